// Approver console sign-in: an API key is pasted once, checked exactly as on the API (resolveApiKey),
// and exchanged for an opaque session token that lives only in an HttpOnly cookie. The database keeps
// the token's SHA-256; every use re-checks the session and the key (a revoked key ends its sessions).
// A key holds a few live sessions at most, and the cron deletes ended ones in bounded batches.
import {
  deleteEndedSessions,
  findSessionKey,
  insertSessionWithinCap,
  revokeSession,
} from "../db/console-sessions.ts";
import type { Principal } from "../domain/access.ts";
import { sha256Hex, toBase64Url } from "../domain/encoding.ts";
import type { ServiceContext } from "./context.ts";
import { principalOf, resolveApiKey } from "./keys.ts";

/** A console session lasts a working day; signing in again starts a new one. */
export const CONSOLE_SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** Live sessions one key may hold (a few browsers and devices); beyond it the oldest is signed out. */
export const CONSOLE_MAX_SESSIONS_PER_KEY = 5;
/** Ended sessions one cron run deletes at most. */
export const CONSOLE_SESSION_PURGE_BATCH = 1000;

export interface ConsoleSession {
  token: string;
  principal: Principal;
  expiresAt: Date;
}

const REFUSALS = {
  malformed: "That is not an API key: paste the whole key, pak_…",
  unknown: "Invalid API key",
  revoked: "This API key has been revoked",
  agent: "Agent keys cannot sign in to the console: use an approver or admin key",
} as const;

/**
 * Checks a pasted API key for sign-in: the principal it stands for, or why not (never which part was
 * wrong). Each refusal is counted as nova_console_sign_in_failures_total{reason}; bad keys also as
 * nova_auth_failures_total, as on the API. The caller spends the key's sign-in limit, then opens the
 * session (openSession).
 */
export async function checkSignIn(
  ctx: ServiceContext,
  apiKey: string,
): Promise<{ principal: Principal } | { refused: string }> {
  const resolved = await resolveApiKey(ctx, apiKey.trim());
  if ("refused" in resolved) {
    ctx.log.warn("console_sign_in_refused", { reason: resolved.refused, key_id: resolved.keyId });
    ctx.metrics.count("nova_auth_failures_total", { reason: resolved.refused });
    ctx.metrics.count("nova_console_sign_in_failures_total", { reason: resolved.refused });
    return { refused: REFUSALS[resolved.refused] };
  }
  const principal = resolved.principal;
  if (principal.role === "agent") {
    ctx.log.warn("console_sign_in_refused", { reason: "agent key", key_id: principal.keyId });
    ctx.metrics.count("nova_console_sign_in_failures_total", { reason: "agent" });
    return { refused: REFUSALS.agent };
  }
  return { principal };
}

/**
 * Opens a session for a checked principal. A key holds at most CONSOLE_MAX_SESSIONS_PER_KEY live
 * sessions: signing in beyond that signs its oldest out, so repeated sign-ins cannot pile sessions up.
 */
export async function openSession(ctx: ServiceContext, principal: Principal): Promise<ConsoleSession> {
  const token = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const expiresAt = new Date(Date.now() + CONSOLE_SESSION_TTL_MS);
  const signedOut = await insertSessionWithinCap(
    ctx.db,
    { tokenHash: await sha256Hex(token), keyId: principal.keyId, expiresAt },
    CONSOLE_MAX_SESSIONS_PER_KEY,
  );
  ctx.log.info("console_sign_in", {
    key_id: principal.keyId,
    principal_id: principal.principalId,
    oldest_signed_out: signedOut,
  });
  return { token, principal, expiresAt };
}

/**
 * Deletes ended sessions (expired or signed out), at most CONSOLE_SESSION_PURGE_BATCH a run: the cron
 * calls it each minute, so a backlog drains over a few runs without one long statement.
 */
export async function purgeEndedSessions(ctx: ServiceContext): Promise<number> {
  const purged = await deleteEndedSessions(ctx.db, CONSOLE_SESSION_PURGE_BATCH);
  if (purged > 0) ctx.log.info("console_sessions_purged", { purged });
  return purged;
}

/** The principal of a live session, or undefined (unknown, signed out, expired, or its key revoked). */
export async function resolveSession(ctx: ServiceContext, token: string): Promise<Principal | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
  const found = await findSessionKey(ctx.db, await sha256Hex(token));
  return found ? principalOf(found.key) : undefined;
}

export async function signOut(ctx: ServiceContext, token: string): Promise<void> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return;
  if (await revokeSession(ctx.db, await sha256Hex(token))) ctx.log.info("console_sign_out", {});
}

/**
 * The CSRF token of a session: derived from the session token, so it needs no storage, is the same
 * on every form of the session, and cannot be computed by a page that cannot read the cookie.
 */
export async function csrfTokenFor(sessionToken: string): Promise<string> {
  return (await sha256Hex(`csrf:${sessionToken}`)).slice(0, 43);
}
