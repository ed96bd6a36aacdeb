// The audit trail on the wire: the public key that signs the chain's checkpoints, and the export's
// query and NDJSON body (its lines are defined by src/domain/audit-chain.ts).
import { z } from "@hono/zod-openapi";
import type { publishedKey } from "../domain/audit-checkpoint.ts";
import { Identifier, IsoDateTime, type WireMatches } from "./common.ts";

export const NDJSON = "application/x-ndjson";

export const AuditKeySchema = z
  .object({
    algorithm: z.literal("Ed25519"),
    key_id: z.string().openapi({ description: "First 16 hex digits of SHA-256 of the raw public key" }),
    public_key: z.string().openapi({ description: "The raw 32-byte Ed25519 public key, base64" }),
  })
  .openapi("AuditKey");

/** domain/audit-checkpoint.ts publishedKey's answer is exactly this schema's shape. */
export const AUDIT_KEY_IS_THE_WIRE: WireMatches<
  z.infer<typeof AuditKeySchema>,
  ReturnType<typeof publishedKey>
> = true;

export const AuditExportQuery = z.object({
  tenant: z
    .literal("*")
    .or(Identifier)
    .optional()
    .openapi({ description: "One chain: a tenant id (folded like every id), or * for the global chain" }),
  from: IsoDateTime.optional().openapi({ description: "ISO 8601, inclusive" }),
  to: IsoDateTime.optional().openapi({ description: "ISO 8601, inclusive" }),
});

/** NDJSON lines: export header, record, checkpoint (one JSON document per line). */
export const AuditExportBody = z.string();
