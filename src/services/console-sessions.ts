// Approver console sign-in: an API key is pasted once, checked exactly as on the API (resolveApiKey),
// and exchanged for an opaque session token that lives only in an HttpOnly cookie. The database keeps
// the token's SHA-256; every use re-checks the session and the key (a revoked key ends its sessions).
import { findSessionKey, insertSession, revokeSession } from "../db/console-sessions.ts";
import type { Principal } from "../domain/access.ts";
import { sha256Hex, toBase64Url } from "../domain/encoding.ts";
import type { ServiceContext } from "./context.ts";
import { principalOf, resolveApiKey } from "./keys.ts";

/** A console session lasts a working day; signing in again starts a new one. */
export const CONSOLE_SESSION_TTL_MS = 8 * 60 * 60 * 1000;

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

/** Checks a pasted API key and opens a session for it, or says why not (never which part was wrong). */
export async function signIn(
  ctx: ServiceContext,
  apiKey: string,
): Promise<{ session: ConsoleSession } | { refused: string }> {
  const resolved = await resolveApiKey(ctx, apiKey.trim());
  if ("refused" in resolved) {
    ctx.log.warn("console_sign_in_refused", { reason: resolved.refused, key_id: resolved.keyId });
    ctx.metrics.count("nova_auth_failures_total", { reason: resolved.refused });
    return { refused: REFUSALS[resolved.refused] };
  }
  const principal = resolved.principal;
  if (principal.role === "agent") {
    ctx.log.warn("console_sign_in_refused", { reason: "agent key", key_id: principal.keyId });
    return { refused: REFUSALS.agent };
  }
  const token = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const expiresAt = new Date(Date.now() + CONSOLE_SESSION_TTL_MS);
  await insertSession(ctx.db, { tokenHash: await sha256Hex(token), keyId: principal.keyId, expiresAt });
  ctx.log.info("console_sign_in", { key_id: principal.keyId, principal_id: principal.principalId });
  return { session: { token, principal, expiresAt } };
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
