// Notification view links (issue 25): `<CONSOLE_BASE_URL>/console/requests/{id}?view=<token>`, the token
// signed for one principal and one request (src/domain/view-token.ts), expiring with the request. The
// notification engine builds them (viewLink). The console checks them on GET without spending them
// (checkViewLink: mail scanners fetch every link before the person clicks) and opens them on the
// click-through POST (openViewLink): once, read-only. Deciding still needs the principal's own console
// session: a link alone never decides anything. The cron purges the uses of expired tokens
// (purgeExpiredViewTokenUses): an expired token is refused before its use is looked up.

import { loadRequest } from "../db/approval-requests.ts";
import type { ApprovalRequestRow } from "../db/schema.ts";
import {
  claimViewToken,
  deleteExpiredViewTokenUses,
  principalCoversTenant,
  viewTokenUsed,
} from "../db/view-tokens.ts";
import { mintViewToken, type ViewClaims, verifyViewToken, viewTokenKey } from "../domain/view-token.ts";
import { ApiError } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";

/** Rows one purge statement deletes at most. */
export const VIEW_TOKEN_PURGE_BATCH = 1000;
/** Purge statements one cron run makes at most: a backlog drains over a few minutes' runs. */
export const VIEW_TOKEN_PURGE_MAX_BATCHES = 5;
/**
 * How long past its expiry a token's use is kept: verifyViewToken judges expiry on the clock of the
 * worker that serves the link, so a row outlives it by more than any clock skew between workers.
 */
export const VIEW_TOKEN_PURGE_GRACE_MS = 5 * 60 * 1000;

/** Why a link does not open, as the page says it (nothing about the request). */
export type ViewLinkRefusal = "invalid" | "expired" | "used" | "other_principal";

export class ViewLinkRefused extends Error {
  constructor(readonly reason: ViewLinkRefusal) {
    super(`view link refused: ${reason}`);
    this.name = "ViewLinkRefused";
  }
}

const keys = new WeakMap<object, Promise<CryptoKey>>();

/** The view-token key, derived from WEBHOOK_ENCRYPTION_KEY once per configuration. */
function keyOf(ctx: ServiceContext): Promise<CryptoKey> {
  const config = ctx.config;
  const master = config.WEBHOOK_ENCRYPTION_KEY;
  if (!master) {
    throw new ApiError(
      "internal_error",
      "WEBHOOK_ENCRYPTION_KEY is not set: notification links cannot be signed",
    );
  }
  let key = keys.get(config);
  if (!key) {
    key = viewTokenKey(master);
    keys.set(config, key);
  }
  return key;
}

/**
 * The absolute link for `principalId` to open `request`'s console page once, until the request's
 * expires_at: what a notification carries. Each call mints a new token (a new jti).
 */
export async function viewLink(
  ctx: ServiceContext,
  request: Pick<ApprovalRequestRow, "id" | "expiresAt">,
  principalId: string,
): Promise<string> {
  const { token } = await mintViewToken(await keyOf(ctx), {
    requestId: request.id,
    principalId,
    expiresAt: request.expiresAt,
  });
  const url = new URL(`/console/requests/${request.id}`, ctx.config.CONSOLE_BASE_URL);
  url.searchParams.set("view", token);
  return url.toString();
}

/**
 * Everything about a link but its single use: genuine, for this request, unexpired, its principal (when
 * someone is signed in) the one signed in, its principal still holding a live key over the request's
 * tenant. Throws ViewLinkRefused otherwise.
 */
async function verifyLink(
  ctx: ServiceContext,
  requestId: string,
  token: string,
  signedIn: { principalId: string } | undefined,
): Promise<{ row: ApprovalRequestRow; claims: ViewClaims }> {
  const verified = await verifyViewToken(await keyOf(ctx), token, requestId);
  if ("refused" in verified) {
    ctx.log.warn("view_link_refused", { request_id: requestId, reason: verified.refused });
    throw new ViewLinkRefused(verified.refused === "expired" ? "expired" : "invalid");
  }
  const { claims } = verified;
  if (signedIn && signedIn.principalId !== claims.principalId) {
    ctx.log.warn("view_link_refused", { request_id: requestId, reason: "other_principal" });
    throw new ViewLinkRefused("other_principal");
  }
  const row = await loadRequest(ctx.db, requestId);
  if (!row || !(await principalCoversTenant(ctx.db, claims.principalId, row.tenantId))) {
    ctx.log.warn("view_link_refused", { request_id: requestId, reason: "no_longer_valid" });
    throw new ViewLinkRefused("invalid");
  }
  return { row, claims };
}

/**
 * Checks a view link completely without spending it: what the console's GET of a link does, so a mail
 * scanner fetching it (any number of times) uses nothing up. Resolves when the link would open now;
 * throws ViewLinkRefused (for a used link too) otherwise. Returns nothing of the request: the page it
 * backs shows only the request's id and a button that posts the token to openViewLink.
 */
export async function checkViewLink(
  ctx: ServiceContext,
  requestId: string,
  token: string,
  signedIn?: { principalId: string },
): Promise<void> {
  const { claims } = await verifyLink(ctx, requestId, token, signedIn);
  if (await viewTokenUsed(ctx.db, claims.jti)) {
    ctx.log.warn("view_link_refused", { request_id: requestId, reason: "used" });
    throw new ViewLinkRefused("used");
  }
}

/**
 * Opens a view link (the console's click-through POST): the request, and the principal the link was
 * for, when checkViewLink's rules hold and the link was never used before (recorded now, once even
 * under concurrent opens). Otherwise throws ViewLinkRefused. Everything but the use is checked first,
 * so a refused link does not spend a token.
 */
export async function openViewLink(
  ctx: ServiceContext,
  requestId: string,
  token: string,
  signedIn?: { principalId: string },
): Promise<{ row: ApprovalRequestRow; principalId: string }> {
  const { row, claims } = await verifyLink(ctx, requestId, token, signedIn);
  const claimed = await claimViewToken(ctx.db, {
    jti: claims.jti,
    requestId,
    principalId: claims.principalId,
    expiresAt: claims.expiresAt,
  });
  if (!claimed) {
    ctx.log.warn("view_link_refused", { request_id: requestId, reason: "used" });
    throw new ViewLinkRefused("used");
  }
  ctx.log.info("view_link_opened", { request_id: requestId, principal_id: claims.principalId });
  return { row, principalId: claims.principalId };
}

/**
 * Deletes the recorded uses of tokens expired for longer than VIEW_TOKEN_PURGE_GRACE_MS at `now` (the
 * job's clock), in statements of VIEW_TOKEN_PURGE_BATCH rows, at most VIEW_TOKEN_PURGE_MAX_BATCHES a
 * run. Returns how many went. A purged token stays refused: as expired, checked before its use is.
 */
export async function purgeExpiredViewTokenUses(ctx: ServiceContext, now: Date): Promise<number> {
  const before = new Date(now.getTime() - VIEW_TOKEN_PURGE_GRACE_MS);
  let purged = 0;
  let batches = 0;
  while (batches < VIEW_TOKEN_PURGE_MAX_BATCHES) {
    const deleted = await deleteExpiredViewTokenUses(ctx.db, before, VIEW_TOKEN_PURGE_BATCH);
    batches++;
    purged += deleted;
    if (deleted < VIEW_TOKEN_PURGE_BATCH) break;
  }
  if (purged > 0) ctx.log.info("view_token_uses_purged", { purged, batches });
  return purged;
}
