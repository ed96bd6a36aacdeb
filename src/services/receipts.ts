// Approval receipts as use cases (issue 27): issuing one when a request is finally approved (the
// caller stores it with the approval, in the same statement), the JWKS that verifies them, and the
// single-use redeem. The signing key (RECEIPT_SIGNING_KEY) is imported once per isolate and its public
// half registered before its first signature, so a rotated key stays published while its receipts
// may still be used (db/receipts.ts publishedReceiptKeys).
import {
  type IssuedReceipt,
  publishedReceiptKeys,
  type RedeemOutcome,
  redeemReceiptRow,
  registerReceiptKey,
} from "../db/receipts.ts";
import type { Principal } from "../domain/access.ts";
import { newReceiptId, RECEIPT_ID_PATTERN } from "../domain/ids.ts";
import { type ReceiptSubject, receiptClaims } from "../domain/receipts.ts";
import { ApiError } from "../lib/errors.ts";
import {
  importReceiptSigningKey,
  type PublicReceiptJwk,
  type ReceiptSigningKey,
  signReceipt,
} from "../lib/receipts.ts";
import type { ServiceContext } from "./context.ts";

// Per isolate: the imported key (two WebCrypto imports and an export) and the kids registered.
let cached: { secret: string; key: Promise<ReceiptSigningKey> } | undefined;
const registered = new Set<string>();

/** The signing key from RECEIPT_SIGNING_KEY, or undefined when none is configured. */
function receiptSigningKey(ctx: Pick<ServiceContext, "config">): Promise<ReceiptSigningKey> | undefined {
  const secret = ctx.config.RECEIPT_SIGNING_KEY;
  if (!secret) return undefined;
  if (cached?.secret !== secret) {
    const key = importReceiptSigningKey(secret);
    // A bad secret fails each approval's receipt, not the isolate's life: the next one imports again.
    key.catch(() => {
      if (cached?.key === key) cached = undefined;
    });
    cached = { secret, key };
  }
  return cached.key;
}

/**
 * Signs the receipt of a final approval decided at `decidedAt`, for the caller to store with it. Null
 * when no key is configured or signing fails (logged): the approval stands, a tool that asks for a
 * receipt refuses to act without one.
 */
export async function issueReceipt(
  ctx: ServiceContext,
  subject: ReceiptSubject,
  decidedAt: Date,
): Promise<IssuedReceipt | null> {
  const pending = receiptSigningKey(ctx);
  if (!pending) {
    ctx.log.warn("receipt_skipped", {
      request_id: subject.requestId,
      reason: "RECEIPT_SIGNING_KEY is not configured",
    });
    return null;
  }
  try {
    const key = await pending;
    if (!registered.has(key.kid)) {
      await registerReceiptKey(ctx.db, key.kid, key.publicJwk);
      registered.add(key.kid);
    }
    const id = newReceiptId();
    const claims = receiptClaims(subject, id, decidedAt, ctx.config.RECEIPT_TTL_SECONDS);
    return { id, jws: await signReceipt(key, claims), kid: key.kid, notAfter: new Date(claims.exp * 1000) };
  } catch (error) {
    ctx.log.error("receipt_failed", {
      request_id: subject.requestId,
      error: error instanceof Error ? error.message : String(error),
    });
    return null;
  }
}

/** The JSON Web Key Set that verifies receipts: the current key and every key with receipts in use. */
export async function receiptJwks(ctx: ServiceContext): Promise<{ keys: PublicReceiptJwk[] }> {
  const current = await receiptSigningKey(ctx)?.catch(() => undefined);
  const published = await publishedReceiptKeys(ctx.db, current?.kid ?? null);
  const keys = current ? [current.publicJwk] : [];
  for (const jwk of published) if (!keys.some((key) => key.kid === jwk.kid)) keys.push(jwk);
  return { keys };
}

/**
 * Redeems receipt `id` once, for actions that must run once: any key that sees the request's tenant
 * may redeem it (the tool runner's own key). A second redeem, or one after the not-after, is a 409;
 * a receipt the key may not see is a 404, as a missing one.
 */
export async function redeemReceipt(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
): Promise<Extract<RedeemOutcome, { outcome: "redeemed" }>> {
  const outcome = RECEIPT_ID_PATTERN.test(id)
    ? await redeemReceiptRow(
        ctx.db,
        id,
        {
          principalId: principal.principalId,
          keyId: principal.keyId,
          tenantScope: principal.tenantId,
          httpRequestId: ctx.requestId,
        },
        new Date(),
      )
    : ({ outcome: "missing" } as const);
  switch (outcome.outcome) {
    case "redeemed":
      ctx.log.info("receipt_redeemed", {
        receipt_id: id,
        request_id: outcome.requestId,
        by: principal.principalId,
      });
      return outcome;
    case "missing":
      throw new ApiError("not_found", `No receipt ${id}`);
    case "already_redeemed":
      throw new ApiError(
        "conflict",
        `Receipt ${id} was already redeemed${outcome.redeemedAt ? ` at ${outcome.redeemedAt.toISOString()}` : ""}: the action it allows runs once`,
      );
    case "expired":
      throw new ApiError(
        "conflict",
        `Receipt ${id} is past its not-after: the approved action can no longer start`,
      );
  }
}
