// Text files imported whole (Vite's `?raw` suffix): the docs a test holds to what it verifies.
declare module "*?raw" {
  const text: string;
  export default text;
}
