// Webhook secrets are kept encrypted (AES-256-GCM under the WEBHOOK_ENCRYPTION_KEY secret), never
// hashed-only, so every later webhook can still be signed with them. Format: "v1.<iv>.<ciphertext>"
// in base64url; the version names the key, so keys can be rotated later.
import { fromBase64 as base64Decode, toBase64Url as base64UrlEncode, toHex } from "../domain/encoding.ts";

export const SECRET_FORMAT_VERSION = 1;

/** The AES key from its base64 form; undefined if absent or not 32 bytes. */
export async function importEncryptionKey(base64Key: string | undefined): Promise<CryptoKey | undefined> {
  if (!base64Key) return undefined;
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = base64Decode(base64Key.trim());
  } catch {
    return undefined;
  }
  if (raw.length !== 32) return undefined;
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/**
 * HMAC-SHA256 (hex) of `text` under the same server key: a keyed fingerprint, so a database reader
 * cannot test guesses of what was fingerprinted (e.g. a webhook secret inside an idempotency hash).
 */
export async function keyedFingerprint(base64Key: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    base64Decode(base64Key.trim()),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(text));
  return toHex(new Uint8Array(signature));
}

export async function encryptSecret(plaintext: string, key: CryptoKey): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    key,
    new TextEncoder().encode(plaintext),
  );
  return `v${SECRET_FORMAT_VERSION}.${base64UrlEncode(iv)}.${base64UrlEncode(new Uint8Array(sealed))}`;
}

export async function decryptSecret(sealed: string, key: CryptoKey): Promise<string> {
  const [version, iv, data] = sealed.split(".");
  if (version !== `v${SECRET_FORMAT_VERSION}` || !iv || !data) throw new Error("unknown secret format");
  const opened = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: base64Decode(iv) },
    key,
    base64Decode(data),
  );
  return new TextDecoder().decode(opened);
}
