// The TypeScript SDK's generated types (issue 28): @hey-api/openapi-ts, types only (no runtime client:
// the hand-written client in sdk/typescript/src/ uses fetch), run in Node on a copy of the API's
// OpenAPI document. `npm run sdk:generate` and the check that the committed output is current
// (test/node/sdk-typescript.test.ts) both call this, so they cannot disagree on the options.
import path from "node:path";
import { createClient } from "@hey-api/openapi-ts";

export const SDK_DIR = path.resolve(import.meta.dirname, "../../sdk/typescript");
/** The committed copy of the API's OpenAPI document the types are generated from. */
export const SDK_SPEC = path.join(SDK_DIR, "openapi.json");
export const SDK_GENERATED = path.join(SDK_DIR, "src/generated");

/** The document as the committed copy stores it: two-space JSON and a final newline. */
export function specText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Generates the types of the document at `specPath` into `outDir` (emptied first). */
export async function generateSdkTypes(specPath: string, outDir: string): Promise<void> {
  await createClient({
    input: specPath,
    output: { path: outDir, clean: true, module: { extension: ".ts" } },
    plugins: ["@hey-api/typescript"],
    logs: { level: "silent", file: false },
  });
}
