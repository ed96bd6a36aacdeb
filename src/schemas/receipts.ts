// Receipts on the wire (issue 27): the JWKS that verifies them and the single-use redeem.
import { z } from "@hono/zod-openapi";

export const ReceiptIdParam = z.object({
  receipt_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "receipt_id", in: "path" }, example: "rcp_0123456789abcdef0123" }),
});

const PublicJwk = z
  .object({
    kty: z.string().openapi({ example: "OKP" }),
    crv: z.string().openapi({ example: "Ed25519" }),
    x: z.string().openapi({ description: "The public key, base64url" }),
    kid: z.string().openapi({ description: "RFC 7638 thumbprint: the receipts' JWS header kid" }),
    alg: z.string().openapi({ example: "EdDSA" }),
    use: z.string().openapi({ example: "sig" }),
  })
  .openapi("ReceiptPublicKey");

export const JwksSchema = z
  .object({ keys: z.array(PublicJwk) })
  .openapi("ReceiptJwks", { description: "RFC 7517 JSON Web Key Set: the keys that sign approval receipts" });

export const RedeemedSchema = z
  .object({
    receipt_id: z.string(),
    request_id: z.string(),
    redeemed_at: z.string(),
    redeemed_by: z.string(),
  })
  .openapi("RedeemedReceipt");
