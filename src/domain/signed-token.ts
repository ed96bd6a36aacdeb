// Short signed tokens (a notification's view token, a Slack link code): `<claims>.<mac>`, both
// base64url, where the claims are a JSON object and the mac is HMAC-SHA-256 over the encoded claims,
// under a key derived by HKDF from an existing secret (WEBHOOK_ENCRYPTION_KEY) with a salt and info of
// the token's own, so a key signs one kind of token and nothing else. Opening checks the shape and the
// MAC (in constant time, WebCrypto's verify) before anything is parsed; what the claims mean is the
// caller's. Pure WebCrypto.
import { fromBase64, toBase64Url } from "./encoding.ts";

const encoder = new TextEncoder();

/** The HMAC key for one kind of token, from the 32 bytes of the master secret (base64). */
export async function signedTokenKey(
  masterKeyBase64: string,
  purpose: { salt: string; info: string },
): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", fromBase64(masterKeyBase64.trim()), "HKDF", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode(purpose.salt), info: encoder.encode(purpose.info) },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

/** `claims` as a signed token. */
export async function signClaims(key: CryptoKey, claims: Record<string, unknown>): Promise<string> {
  const body = toBase64Url(encoder.encode(JSON.stringify(claims)));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return `${body}.${toBase64Url(mac)}`;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The claims of a genuine token: `malformed` when it is longer than `maxChars`, not two base64url parts,
 * or (once the MAC checks) not a JSON object; `forged` when the MAC does not check.
 */
export async function openSignedClaims(
  key: CryptoKey,
  token: string,
  maxChars: number,
): Promise<{ claims: Record<string, unknown> } | { refused: "malformed" | "forged" }> {
  if (token.length > maxChars) return { refused: "malformed" };
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
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(fromBase64(body)));
    return parsed && typeof parsed === "object" && !Array.isArray(parsed)
      ? { claims: parsed as Record<string, unknown> }
      : { refused: "malformed" };
  } catch {
    return { refused: "malformed" };
  }
}
