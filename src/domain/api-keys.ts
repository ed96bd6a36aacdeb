// API key tokens: `pak_<key id: 16 hex>_<secret: 43 base64url chars = 32 random bytes>`.
// The readable prefix makes leaked keys easy to spot (and to scan for); the key id locates the row
// without revealing anything; only a SHA-256 of the secret is stored, and it is compared in constant
// time. Pure WebCrypto: runs in the worker and in Node scripts alike.
import { digestsEqual, sha256Hex, toBase64Url } from "./encoding.ts";
import { newKeyId } from "./ids.ts";

export const API_KEY_PREFIX = "pak_";
const TOKEN_PATTERN = /^pak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

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

export async function generateApiKey(): Promise<GeneratedKey> {
  const keyId = newKeyId();
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  return { keyId, secret, token: `${API_KEY_PREFIX}${keyId}_${secret}`, secretHash: await sha256Hex(secret) };
}

export function parseApiKey(token: string): ParsedToken | undefined {
  const match = TOKEN_PATTERN.exec(token);
  return match?.[1] && match[2] ? { keyId: match[1], secret: match[2] } : undefined;
}

/** Whether `secret` hashes to `storedHash`, compared in constant time. */
export async function secretMatches(secret: string, storedHash: string): Promise<boolean> {
  return digestsEqual(await sha256Hex(secret), storedHash);
}
