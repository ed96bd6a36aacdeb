// The link code a signed-in principal types in Slack (`/policy link <code>`, issue 26) to link its Slack
// account: `<claims>.<mac>`, both base64url, where the claims are JSON {k: "slack-link", t: tenant id,
// p: principal id, e: expiry in epoch seconds (10 minutes after minting), j: a random jti} and the mac is
// HMAC-SHA-256 over the encoded claims. Its key is derived by HKDF from WEBHOOK_ENCRYPTION_KEY under its
// own salt and info, so it signs nothing else (a view token is not a link code, nor the reverse). Single
// use is the service's (the jti is recorded in the redeem's audit event). Pure WebCrypto.
import { fromBase64, toBase64Url } from "./encoding.ts";

const LINK_CODE_SALT = new TextEncoder().encode("policy-api/slack-link-code/key/v1");
const LINK_CODE_INFO = new TextEncoder().encode("slack-link-code:hmac-sha256");
/** The claims' kind: even under one key, no other token's claims read as a link code. */
const KIND = "slack-link";

/** How long a code works: long enough to switch to Slack and type it, short enough to be useless later. */
export const SLACK_LINK_CODE_TTL_MS = 10 * 60 * 1000;
/** A code longer than this is refused before anything is decoded. */
export const MAX_SLACK_LINK_CODE_CHARS = 512;

export interface SlackLinkClaims {
  tenantId: string;
  principalId: string;
  expiresAt: Date;
  /** Random; recorded when the code is redeemed, so it links once. */
  jti: string;
}

/** Why a code is refused before any database read. */
export type SlackLinkCodeRefusal = "malformed" | "forged" | "expired";

const encoder = new TextEncoder();

/** The HMAC key for link codes, from the 32 bytes of the master secret (base64). */
export async function slackLinkCodeKey(masterKeyBase64: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", fromBase64(masterKeyBase64.trim()), "HKDF", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: LINK_CODE_SALT, info: LINK_CODE_INFO },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

/** A new code for `principalId` in `tenantId`, valid for SLACK_LINK_CODE_TTL_MS from `now`. */
export async function mintSlackLinkCode(
  key: CryptoKey,
  who: { tenantId: string; principalId: string },
  now = new Date(),
): Promise<{ code: string; claims: SlackLinkClaims }> {
  const claims: SlackLinkClaims = {
    ...who,
    expiresAt: new Date(Math.floor((now.getTime() + SLACK_LINK_CODE_TTL_MS) / 1000) * 1000),
    jti: toBase64Url(crypto.getRandomValues(new Uint8Array(16))),
  };
  const json = {
    k: KIND,
    t: claims.tenantId,
    p: claims.principalId,
    e: claims.expiresAt.getTime() / 1000,
    j: claims.jti,
  };
  const body = toBase64Url(encoder.encode(JSON.stringify(json)));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return { code: `${body}.${toBase64Url(mac)}`, claims };
}

const CODE_SHAPE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

function claimsOf(body: string): SlackLinkClaims | undefined {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(fromBase64(body)));
    if (!parsed || typeof parsed !== "object") return undefined;
    const { k, t, p, e, j } = parsed as Record<string, unknown>;
    if (k !== KIND || typeof t !== "string" || typeof p !== "string" || typeof j !== "string")
      return undefined;
    if (typeof e !== "number" || !Number.isSafeInteger(e)) return undefined;
    return { tenantId: t, principalId: p, expiresAt: new Date(e * 1000), jti: j };
  } catch {
    return undefined;
  }
}

/**
 * The code's claims if it is genuine (the MAC checked first, in constant time by WebCrypto's verify)
 * and unexpired at `now`; otherwise why not. Tenant, principal and single use are the caller's.
 */
export async function verifySlackLinkCode(
  key: CryptoKey,
  code: string,
  now = new Date(),
): Promise<{ claims: SlackLinkClaims } | { refused: SlackLinkCodeRefusal }> {
  const shape = code.length <= MAX_SLACK_LINK_CODE_CHARS ? CODE_SHAPE.exec(code.trim()) : null;
  const [, body, mac] = shape ?? [];
  if (!body || !mac) return { refused: "malformed" };
  let macBytes: Uint8Array<ArrayBuffer>;
  try {
    macBytes = fromBase64(mac);
  } catch {
    return { refused: "malformed" };
  }
  if (!(await crypto.subtle.verify("HMAC", key, macBytes, encoder.encode(body))))
    return { refused: "forged" };
  const claims = claimsOf(body);
  if (!claims) return { refused: "malformed" };
  if (claims.expiresAt.getTime() <= now.getTime()) return { refused: "expired" };
  return { claims };
}
