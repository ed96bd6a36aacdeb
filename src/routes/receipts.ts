// Approval receipts over HTTP (issue 27): the public JSON Web Key Set a tool verifies receipts with
// (no auth, cacheable for five minutes; an unknown kid is the verifier's cue to fetch again), and the
// single-use redeem. Thin: services/receipts.ts does the work.
import { createRoute } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { JwksSchema, ReceiptIdParam, RedeemedSchema } from "../schemas/receipts.ts";
import { receiptJwks, redeemReceipt } from "../services/receipts.ts";

export const JWKS_PATH = "/.well-known/jwks.json";

const jwksRoute = createRoute({
  method: "get",
  path: JWKS_PATH,
  tags: ["receipts"],
  summary: "The public keys that sign approval receipts (no auth)",
  responses: { 200: jsonResponse(JwksSchema, "The key set: the current key and rotated keys still in use") },
});

const redeemRoute = protectedRoute(
  "requests:read",
  {
    method: "post",
    path: "/api/v1/policy/receipts/{receipt_id}/redeem",
    tags: ["receipts"],
    summary: "Redeem a receipt once, for an action that must run once",
    description:
      "Atomic: of any number of redeems of one receipt exactly one succeeds; the others, and any after the receipt's not_after, are 409. Any key that may read the request's tenant may redeem. Audited (receipt.redeemed).",
    request: { params: ReceiptIdParam },
    responses: { 200: jsonResponse(RedeemedSchema, "Redeemed now: the action may run") },
  },
  {
    404: "No such receipt (or not in your tenant)",
    409: "Already redeemed, or past its not_after",
  },
);

export const jwksRoutes = createRouter().openapi(jwksRoute, async (c) => {
  c.header("Cache-Control", "public, max-age=300");
  return c.json(await receiptJwks(c.var.services), 200);
});

export const receiptRoutes = createRouter().openapi(redeemRoute, async (c) => {
  const { receipt_id } = c.req.valid("param");
  const redeemed = await redeemReceipt(c.var.services, c.var.principal, receipt_id);
  return c.json(
    {
      receipt_id,
      request_id: redeemed.requestId,
      redeemed_at: redeemed.redeemedAt.toISOString(),
      redeemed_by: c.var.principal.principalId,
    },
    200,
  );
});
