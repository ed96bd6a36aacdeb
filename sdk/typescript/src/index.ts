// @policy-api/sdk: the TypeScript client of the Policy API (docs/SDK.md). The client and its errors,
// the receipt check it uses, and the types generated from the API's OpenAPI document.
export type { ReceiptCheck, ReceiptRefusal } from "../../../src/lib/receipt-verify.ts";
export { verifyReceipt } from "../../../src/lib/receipt-verify.ts";
export {
  type GuardOptions,
  type PolicyCall,
  PolicyClient,
  type PolicyClientOptions,
  type WaitOptions,
} from "./client.ts";
export * from "./errors.ts";
export type * from "./generated/index.ts";
