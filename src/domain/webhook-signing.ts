// Webhook signatures, on every event. Two schemes side by side:
// - the M5 one: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(body)>` with `X-Webhook-Key-Version`;
// - Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
//   `webhook-signature: v1,<base64 HMAC-SHA256("<id>.<timestamp>.<body>")>`, one signature per key
//   (the current key and any still in their grace period), so receivers verify with the official
//   libraries and keep verifying across a rotation.
// Pure WebCrypto.
import { fromBase64, toHex } from "./encoding.ts";

export interface SigningKey {
  /** What X-Webhook-Key-Version says: "request" for the request's own secret, else the service key's version. */
  version: string;
  /** The HMAC key bytes. */
  bytes: Uint8Array<ArrayBuffer>;
}

/**
 * A secret's key bytes: Standard Webhooks secrets (`whsec_<base64>`) are base64, anything else (a
 * request's own webhook_secret) is its UTF-8 text, which the official libraries accept as a raw key.
 */
export function keyBytes(secret: string): Uint8Array<ArrayBuffer> {
  if (secret.startsWith("whsec_")) return fromBase64(secret.slice("whsec_".length));
  return Uint8Array.from(new TextEncoder().encode(secret));
}

/** The shortest key a `whsec_` request secret may decode to. */
export const MIN_WHSEC_KEY_BYTES = 24;

/** What a refused `whsec_` request secret is told. */
export const WHSEC_RULE = `whsec_ must be followed by standard base64 (A-Z a-z 0-9 + /, padded with =) of at least ${MIN_WHSEC_KEY_BYTES} bytes; or send a secret without the whsec_ prefix`;

// Standard base64 in whole quanta with its padding: what every Standard Webhooks library decodes alike.
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Why a request's own webhook_secret cannot sign, or undefined. A `whsec_` secret is a Standard
 * Webhooks key: its key bytes are the base64 after the prefix, so it must decode (canonically, so no
 * library reads other bytes) to at least MIN_WHSEC_KEY_BYTES. Refused at filing: accepted, it would
 * have failed every delivery of the request for good.
 */
export function requestSecretProblem(secret: string): string | undefined {
  if (!secret.startsWith("whsec_")) return undefined;
  const encoded = secret.slice("whsec_".length);
  if (!STANDARD_BASE64.test(encoded)) return WHSEC_RULE;
  const decoded = atob(encoded);
  if (decoded.length < MIN_WHSEC_KEY_BYTES || btoa(decoded) !== encoded) return WHSEC_RULE;
  return undefined;
}

/** The `version:secret` entries of a WEBHOOK_SIGNING_SECRETS value, split at the colon (or not, if none). */
function signingSecretEntries(value: string): { version: string; secret: string; wellFormed: boolean }[] {
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const colon = entry.indexOf(":");
      const wellFormed = colon > 0 && colon < entry.length - 1;
      return { version: entry.slice(0, colon), secret: entry.slice(colon + 1), wellFormed };
    });
}

/**
 * The service signing keys from WEBHOOK_SIGNING_SECRETS, `version:secret` pairs separated by commas,
 * the current one first and keys in their grace period after it (e.g. `3:whsec_…,2:whsec_…`).
 * Malformed entries are left out; signingSecretsProblem names them.
 */
export function parseSigningSecrets(value: string | undefined): SigningKey[] {
  if (!value) return [];
  return signingSecretEntries(value).flatMap(({ version, secret, wellFormed }) =>
    wellFormed ? [{ version, bytes: keyBytes(secret) }] : [],
  );
}

/**
 * What is wrong with a WEBHOOK_SIGNING_SECRETS value, by entry position (never quoting it: it is a
 * secret), or undefined when every entry is a `version:secret` pair whose secret decodes.
 */
export function signingSecretsProblem(value: string): string | undefined {
  for (const [index, { secret, wellFormed }] of signingSecretEntries(value).entries()) {
    if (!wellFormed) return `entry ${index + 1} is not a version:secret pair`;
    try {
      keyBytes(secret);
    } catch {
      return `entry ${index + 1} has a whsec_ secret that is not base64`;
    }
  }
  return undefined;
}

/** HKDF's salt for tenant keys: names the purpose, so a derived key serves nothing else. */
const TENANT_KEY_SALT = new TextEncoder().encode("policy-api/webhook-signing/tenant-key/v1");

/**
 * A tenant's signing keys, one per service key and of the same version: HKDF-SHA256 of the service
 * key with the tenant id as info, 32 bytes. Requests without a secret of their own are signed with
 * their tenant's keys, so a receiver holding one tenant's key can verify, or forge, that tenant's
 * events only; rotating WEBHOOK_SIGNING_SECRETS rotates every tenant's key with the same versions.
 */
export async function tenantSigningKeys(serviceKeys: SigningKey[], tenantId: string): Promise<SigningKey[]> {
  const info = new TextEncoder().encode(`tenant:${tenantId}`);
  return Promise.all(
    serviceKeys.map(async (key) => {
      const base = await crypto.subtle.importKey("raw", key.bytes, "HKDF", false, ["deriveBits"]);
      const bits = await crypto.subtle.deriveBits(
        { name: "HKDF", hash: "SHA-256", salt: TENANT_KEY_SALT, info },
        base,
        256,
      );
      return { version: key.version, bytes: new Uint8Array(bits) };
    }),
  );
}

/** A key as receivers hold it: a Standard Webhooks secret, `whsec_` + base64 of its bytes. */
export function whsecSecret(key: SigningKey): string {
  return `whsec_${toBase64(key.bytes)}`;
}

async function hmac(key: Uint8Array<ArrayBuffer>, text: string): Promise<Uint8Array> {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, new TextEncoder().encode(text)));
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * The headers that sign `body`: the first key is the one M5 receivers check (X-Webhook-Signature),
 * and every key signs for Standard Webhooks receivers. `id` stays the same across retries.
 */
export async function signatureHeaders(
  keys: SigningKey[],
  id: string,
  timestampSeconds: number,
  body: string,
): Promise<Record<string, string>> {
  const [current] = keys;
  if (!current) throw new Error("no signing key");
  const signed = `${id}.${timestampSeconds}.${body}`;
  const standard = await Promise.all(
    keys.map(async (key) => `v1,${toBase64(await hmac(key.bytes, signed))}`),
  );
  return {
    "X-Webhook-Signature": `sha256=${toHex(await hmac(current.bytes, body))}`,
    "X-Webhook-Key-Version": current.version,
    "webhook-id": id,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": standard.join(" "),
  };
}
