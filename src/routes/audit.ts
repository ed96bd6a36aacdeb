// The tamper-evident audit trail over HTTP (issue 17): the public key that signs the chain's
// checkpoints (public, so anyone can check an export), and the admin export as streamed NDJSON. Thin:
// services/audit-checkpoints.ts does the work, src/domain/audit-chain.ts defines the lines.
import { createRoute } from "@hono/zod-openapi";
import { ApiError, invalidField } from "../lib/errors.ts";
import { createRouter, errorResponse, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { AuditExportBody, AuditExportQuery, AuditKeySchema, NDJSON } from "../schemas/audit.ts";
import { optionalDate } from "../schemas/common.ts";
import { exportAuditLines, publishedAuditKey } from "../services/audit-checkpoints.ts";

export const AUDIT_KEY_PATH = "/.well-known/policy-api-audit-key";

const keyRoute = createRoute({
  method: "get",
  path: AUDIT_KEY_PATH,
  tags: ["audit"],
  summary: "The public key that signs the audit chain's checkpoints (no auth)",
  responses: {
    200: jsonResponse(AuditKeySchema, "The key; pass public_key to `npm run audit -- verify --public-key`"),
    404: errorResponse("No signing key is configured (AUDIT_SIGNING_KEY): no checkpoints are signed"),
  },
});

const exportRoute = protectedRoute("audit:read", {
  method: "get",
  path: "/api/v1/admin/audit/export",
  tags: ["audit"],
  summary: "Export the audit chains (or one tenant's) as NDJSON, with the checkpoints covering them",
  description:
    "Streams a header line, then each chain's records in seq order, each signed checkpoint right after the record it signs (or after the chain's last record when it lies beyond it: records were cut off). `from`/`to` select a contiguous slice per chain, from the first record created at or after `from` to the last created at or before `to`; a slice starting after seq 1 is anchored by its first prev_hash and the checkpoints. Verify offline with `npm run audit -- verify FILE --public-key KEY`.",
  request: {
    query: AuditExportQuery,
  },
  responses: {
    200: {
      description: "NDJSON lines: export header, record, checkpoint",
      content: { [NDJSON]: { schema: AuditExportBody } },
    },
  },
});

export const auditKeyRoutes = createRouter().openapi(keyRoute, async (c) => {
  const key = await publishedAuditKey(c.var.services);
  if (!key) throw new ApiError("not_found", "No audit signing key is configured");
  return c.json(key, 200);
});

export const auditExportRoutes = createRouter().openapi(exportRoute, async (c) => {
  const query = c.req.valid("query");
  const principal = c.var.principal;
  // A key confined to a tenant exports that tenant's chain only.
  if (principal.tenantId !== null && query.tenant !== principal.tenantId) {
    throw new ApiError("forbidden", `This key may export only tenant ${principal.tenantId}'s chain`);
  }
  const from = optionalDate(query.from);
  const to = optionalDate(query.to);
  if (from && to && from > to) throw invalidField("to", "to is before from", "query");
  const lines = exportAuditLines(c.var.services, { chain: query.tenant, from, to }, new Date());
  // The header and the first statement's lines are read before answering, so a failure there (the
  // database away) is the error envelope, never a 200 that breaks off after its header line.
  const head: string[] = [];
  for (let line = 0; line < 2; line++) {
    const next = await lines.next();
    if (next.done) break;
    head.push(next.value);
  }
  const encoder = new TextEncoder();
  // Pulled batch by batch: the next statement runs only when the client has read the last batch.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const first = head.shift();
      if (first !== undefined) return controller.enqueue(encoder.encode(first));
      try {
        const next = await lines.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(next.value));
      } catch (error) {
        c.var.log.error("audit_export_failed", { error });
        controller.error(error);
      }
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
  return c.body(body, 200, { "Content-Type": `${NDJSON}; charset=utf-8` });
});
