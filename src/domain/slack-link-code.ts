// The link code a signed-in principal types in Slack (`/policy link <code>`, issue 26) to link its Slack
// account: `<claims>.<mac>`, both base64url, where the claims are JSON {k: "slack-link", t: tenant id,
// p: principal id, e: expiry in epoch seconds (10 minutes after minting), j: a random jti} and the mac is
// HMAC-SHA-256 over the encoded claims. Its key is derived by HKDF from WEBHOOK_ENCRYPTION_KEY under its
// own salt and info, so it signs nothing else (a view token is not a link code, nor the reverse). Single
// use is the service's (the jti is recorded in the redeem's audit event). Signed by domain/signed-token.ts.
import { toBase64Url } from "./encoding.ts";
import { openSignedClaims, signClaims, signedTokenKey } from "./signed-token.ts";

const LINK_CODE_PURPOSE = { salt: "policy-api/slack-link-code/key/v1", info: "slack-link-code:hmac-sha256" };
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

/** The HMAC key for link codes, from the 32 bytes of the master secret (base64). */
export function slackLinkCodeKey(masterKeyBase64: string): Promise<CryptoKey> {
  return signedTokenKey(masterKeyBase64, LINK_CODE_PURPOSE);
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
  const code = await signClaims(key, {
    k: KIND,
    t: claims.tenantId,
    p: claims.principalId,
    e: claims.expiresAt.getTime() / 1000,
    j: claims.jti,
  });
  return { code, claims };
}

function claimsOf(json: Record<string, unknown>): SlackLinkClaims | undefined {
  const { k, t, p, e, j } = json;
  if (k !== KIND || typeof t !== "string" || typeof p !== "string" || typeof j !== "string") return undefined;
  if (typeof e !== "number" || !Number.isSafeInteger(e)) return undefined;
  return { tenantId: t, principalId: p, expiresAt: new Date(e * 1000), jti: j };
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
  if (code.length > MAX_SLACK_LINK_CODE_CHARS) return { refused: "malformed" };
  const opened = await openSignedClaims(key, code.trim(), MAX_SLACK_LINK_CODE_CHARS);
  if ("refused" in opened) return opened;
  const claims = claimsOf(opened.claims);
  if (!claims) return { refused: "malformed" };
  if (claims.expiresAt.getTime() <= now.getTime()) return { refused: "expired" };
  return { claims };
}
