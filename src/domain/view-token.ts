// The view token of a notification link (issue 25): `<claims>.<mac>`, both base64url, where the claims
// are JSON {r: request id, p: principal id, e: expiry in epoch seconds (the request's expires_at), j: a
// random jti} and the mac is HMAC-SHA-256 over the encoded claims. The key is derived by HKDF from an
// existing secret (WEBHOOK_ENCRYPTION_KEY) under its own label, so no new secret is needed and the key
// serves nothing else. The token only opens the request's page, once (the jti is recorded on use by
// services/view-links.ts); deciding still needs a console session. Pure WebCrypto.
import { fromBase64, toBase64Url } from "./encoding.ts";

/** HKDF's salt and info for the view-token key: name the purpose, so the key signs nothing else. */
const VIEW_TOKEN_SALT = new TextEncoder().encode("policy-api/view-token/key/v1");
const VIEW_TOKEN_INFO = new TextEncoder().encode("view-token:hmac-sha256");

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
export async function viewTokenKey(masterKeyBase64: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", fromBase64(masterKeyBase64.trim()), "HKDF", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: VIEW_TOKEN_SALT, info: VIEW_TOKEN_INFO },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

const encoder = new TextEncoder();

/** A new token for `principalId` to open `requestId` until `expiresAt`. */
export async function mintViewToken(
  key: CryptoKey,
  claims: Omit<ViewClaims, "jti">,
): Promise<{ token: string; jti: string }> {
  const jti = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  const body = toBase64Url(
    encoder.encode(
      JSON.stringify({
        r: claims.requestId,
        p: claims.principalId,
        e: Math.floor(claims.expiresAt.getTime() / 1000),
        j: jti,
      }),
    ),
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return { token: `${body}.${toBase64Url(mac)}`, jti };
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function decodeClaims(body: string): ViewClaims | undefined {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(fromBase64(body)));
    if (!parsed || typeof parsed !== "object") return undefined;
    const { r, p, e, j } = parsed as Record<string, unknown>;
    if (typeof r !== "string" || typeof p !== "string" || typeof j !== "string") return undefined;
    if (typeof e !== "number" || !Number.isSafeInteger(e)) return undefined;
    return { requestId: r, principalId: p, expiresAt: new Date(e * 1000), jti: j };
  } catch {
    return undefined;
  }
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
  if (token.length > MAX_VIEW_TOKEN_CHARS) return { refused: "malformed" };
  const [body, mac, ...rest] = token.split(".");
  if (!body || !mac || rest.length > 0 || !BASE64URL.test(body) || !BASE64URL.test(mac)) {
    return { refused: "malformed" };
  }
  let macBytes: Uint8Array<ArrayBuffer>;
  try {
    macBytes = fromBase64(mac);
  } catch {
    return { refused: "malformed" };
  }
  if (!(await crypto.subtle.verify("HMAC", key, macBytes, encoder.encode(body))))
    return { refused: "forged" };
  const claims = decodeClaims(body);
  if (!claims) return { refused: "malformed" };
  if (claims.requestId !== requestId) return { refused: "other_request" };
  if (claims.expiresAt.getTime() <= now.getTime()) return { refused: "expired" };
  return { claims };
}
