// API key tokens: `pak_<key id: 16 hex>_<secret: 43 base64url chars = 32 random bytes>`.
// The readable prefix makes leaked keys easy to spot (and to scan for); the key id locates the row
// without revealing anything; only a SHA-256 of the secret is stored, and it is compared in constant
// time. Pure WebCrypto: runs in the worker and in Node scripts alike.

export const API_KEY_PREFIX = "pak_";
const TOKEN_PATTERN = /^pak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const ROLES = ["agent", "approver", "admin"] as const;
export type Role = (typeof ROLES)[number];

export interface ParsedToken {
  keyId: string;
  secret: string;
}

export interface GeneratedKey extends ParsedToken {
  /** The full token, shown to its owner once. */
  token: string;
  /** SHA-256 (hex) of the secret: the only form that is stored. */
  secretHash: string;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

export async function generateApiKey(): Promise<GeneratedKey> {
  const keyId = toHex(crypto.getRandomValues(new Uint8Array(8)));
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  return { keyId, secret, token: `${API_KEY_PREFIX}${keyId}_${secret}`, secretHash: await sha256Hex(secret) };
}

export function parseApiKey(token: string): ParsedToken | undefined {
  const match = TOKEN_PATTERN.exec(token);
  return match?.[1] && match[2] ? { keyId: match[1], secret: match[2] } : undefined;
}

/** Constant-time equality of two hex digests of equal length (the lengths are public). */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** Whether `secret` hashes to `storedHash`, compared in constant time. */
export async function secretMatches(secret: string, storedHash: string): Promise<boolean> {
  return digestsEqual(await sha256Hex(secret), storedHash);
}
