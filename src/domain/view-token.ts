// The view token of a notification link (issue 25): `<claims>.<mac>`, both base64url, where the claims
// are JSON {r: request id, p: principal id, e: expiry in epoch seconds (the request's expires_at), j: a
// random jti} and the mac is HMAC-SHA-256 over the encoded claims. The key is derived by HKDF from an
// existing secret (WEBHOOK_ENCRYPTION_KEY) under its own label, so no new secret is needed and the key
// serves nothing else. The token only opens the request's page, once (the jti is recorded on use by
// services/view-links.ts); deciding still needs a console session. Signed by domain/signed-token.ts.
import { toBase64Url } from "./encoding.ts";
import { openSignedClaims, signClaims, signedTokenKey } from "./signed-token.ts";

/** HKDF's salt and info for the view-token key: name the purpose, so the key signs nothing else. */
const VIEW_TOKEN_PURPOSE = { salt: "policy-api/view-token/key/v1", info: "view-token:hmac-sha256" };

/** A token longer than this is refused before anything is decoded. */
export const MAX_VIEW_TOKEN_CHARS = 512;

export interface ViewClaims {
  requestId: string;
  principalId: string;
  /** When the token stops opening the page: the request's expires_at. */
  expiresAt: Date;
  /** Random, recorded in view_token_uses on first use: the token opens the page once. */
  jti: string;
}

/** Why a token is refused; the page says which in words, never anything about the request. */
export type ViewTokenRefusal = "malformed" | "forged" | "expired" | "other_request";

/** The HMAC key for view tokens, from the 32 bytes of the master secret (base64). */
export function viewTokenKey(masterKeyBase64: string): Promise<CryptoKey> {
  return signedTokenKey(masterKeyBase64, VIEW_TOKEN_PURPOSE);
}

/** A new token for `principalId` to open `requestId` until `expiresAt`. */
export async function mintViewToken(
  key: CryptoKey,
  claims: Omit<ViewClaims, "jti">,
): Promise<{ token: string; jti: string }> {
  const jti = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  const token = await signClaims(key, {
    r: claims.requestId,
    p: claims.principalId,
    e: Math.floor(claims.expiresAt.getTime() / 1000),
    j: jti,
  });
  return { token, jti };
}

function decodeClaims(json: Record<string, unknown>): ViewClaims | undefined {
  const { r, p, e, j } = json;
  if (typeof r !== "string" || typeof p !== "string" || typeof j !== "string") return undefined;
  if (typeof e !== "number" || !Number.isSafeInteger(e)) return undefined;
  return { requestId: r, principalId: p, expiresAt: new Date(e * 1000), jti: j };
}

/**
 * The token's claims if it is genuine (the MAC checks, in constant time by WebCrypto's verify), for
 * `requestId`, and not past its expiry; otherwise why not. The jti's single use is the caller's
 * (a database row); this checks everything that needs no storage, the MAC first.
 */
export async function verifyViewToken(
  key: CryptoKey,
  token: string,
  requestId: string,
  now = new Date(),
): Promise<{ claims: ViewClaims } | { refused: ViewTokenRefusal }> {
  const opened = await openSignedClaims(key, token, MAX_VIEW_TOKEN_CHARS);
  if ("refused" in opened) return opened;
  const claims = decodeClaims(opened.claims);
  if (!claims) return { refused: "malformed" };
  if (claims.requestId !== requestId) return { refused: "other_request" };
  if (claims.expiresAt.getTime() <= now.getTime()) return { refused: "expired" };
  return { claims };
}
