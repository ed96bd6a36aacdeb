// Signed checkpoints of the audit chains (issue 17): the signed message, the Ed25519 key handling
// and the signature check, shared by the worker (the cron signs, a public route publishes the key)
// and the Node scripts (keygen, offline verification). Pure WebCrypto, which both runtimes have.
//
// A checkpoint says "chain C had seq S with head hash H at time T", signed with the AUDIT_SIGNING_KEY
// secret. Since every record's hash covers its predecessor's, the signature covers records 1..S: a
// writer of the database can neither rewrite them nor cut them off without a checkpoint disagreeing.
import { fromBase64, toHex } from "./encoding.ts";

export const CHECKPOINT_ALGORITHM = "Ed25519";
/** First line of every signed message: names the format, so a signature means nothing elsewhere. */
export const CHECKPOINT_MESSAGE_PREFIX = "policy-api audit checkpoint v1";

/** A checkpoint as stored and exported. `signed_at` is exactly the ISO text that was signed. */
export interface Checkpoint {
  chain_id: string;
  seq: number;
  head_hash: string;
  signed_at: string;
  key_id: string;
  /** Ed25519 signature of checkpointMessage(), base64. */
  signature: string;
}

/** The exact bytes signed: the prefix, chain id, seq, head hash and time, one per line. */
export function checkpointMessage(
  c: Pick<Checkpoint, "chain_id" | "seq" | "head_hash" | "signed_at">,
): string {
  return `${CHECKPOINT_MESSAGE_PREFIX}\n${c.chain_id}\n${c.seq}\n${c.head_hash}\n${c.signed_at}`;
}

/** The key id: the first 16 hex digits of SHA-256 of the raw 32-byte public key. */
export async function keyIdOf(publicKeyRaw: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", Uint8Array.from(publicKeyRaw)));
  return toHex(digest).slice(0, 16);
}

export interface SigningKey {
  privateKey: CryptoKey;
  /** The raw 32-byte public key. */
  publicKeyRaw: Uint8Array;
  keyId: string;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Imports the AUDIT_SIGNING_KEY secret (an Ed25519 private key, PKCS#8 DER, base64). The public key
 * is derived through a JWK export (its `x`), which WebCrypto offers for an extractable private key;
 * the CryptoKey kept for signing is a second, non-extractable import.
 */
export async function importSigningKey(pkcs8Base64: string): Promise<SigningKey> {
  const der = fromBase64(pkcs8Base64.trim());
  const extractable = await crypto.subtle.importKey("pkcs8", der, { name: CHECKPOINT_ALGORITHM }, true, [
    "sign",
  ]);
  const jwk = (await crypto.subtle.exportKey("jwk", extractable)) as { x?: string };
  if (!jwk.x) throw new Error("AUDIT_SIGNING_KEY: the key has no public part");
  const publicKeyRaw = fromBase64(jwk.x);
  const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: CHECKPOINT_ALGORITHM }, false, [
    "sign",
  ]);
  return { privateKey, publicKeyRaw, keyId: await keyIdOf(publicKeyRaw) };
}

/** Signs a checkpoint of a chain's head. */
export async function signCheckpoint(
  key: SigningKey,
  head: { chain_id: string; seq: number; head_hash: string },
  signedAt: Date,
): Promise<Checkpoint> {
  const unsigned = { ...head, signed_at: signedAt.toISOString() };
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      CHECKPOINT_ALGORITHM,
      key.privateKey,
      new TextEncoder().encode(checkpointMessage(unsigned)),
    ),
  );
  return { ...unsigned, key_id: key.keyId, signature: toBase64(signature) };
}

/** A public key to check checkpoints with: its raw bytes, id and WebCrypto handle. */
export interface VerifyingKey {
  keyId: string;
  key: CryptoKey;
}

/** Imports a raw Ed25519 public key (32 bytes, base64 or base64url), as published by the well-known route. */
export async function importVerifyingKey(publicKeyBase64: string): Promise<VerifyingKey> {
  const raw = fromBase64(publicKeyBase64.trim());
  if (raw.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  const key = await crypto.subtle.importKey("raw", raw, { name: CHECKPOINT_ALGORITHM }, true, ["verify"]);
  return { keyId: await keyIdOf(raw), key };
}

/** Whether `checkpoint.signature` is a valid signature of its message by `key`. */
export async function checkpointSignatureValid(key: VerifyingKey, checkpoint: Checkpoint): Promise<boolean> {
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = fromBase64(checkpoint.signature);
  } catch {
    return false;
  }
  if (signature.length !== 64) return false;
  return crypto.subtle.verify(
    CHECKPOINT_ALGORITHM,
    key.key,
    signature,
    new TextEncoder().encode(checkpointMessage(checkpoint)),
  );
}

/** A new signing key: the secret (PKCS#8 DER, base64) and what to publish (raw public key, base64). */
export async function generateSigningKey(): Promise<{
  privateKey: string;
  publicKey: string;
  keyId: string;
}> {
  const pair = await crypto.subtle.generateKey(CHECKPOINT_ALGORITHM, true, ["sign", "verify"]);
  // Ed25519 always makes a pair; the workers and Node typings of generateKey also allow a single key.
  if (!("privateKey" in pair)) throw new Error("Ed25519 key generation returned a single key, not a pair");
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer);
  const raw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  return { privateKey: toBase64(pkcs8), publicKey: toBase64(raw), keyId: await keyIdOf(raw) };
}

/** The public half of a signing key as the well-known route publishes it. */
export function publishedKey(key: SigningKey): { algorithm: "Ed25519"; key_id: string; public_key: string } {
  return { algorithm: CHECKPOINT_ALGORITHM, key_id: key.keyId, public_key: toBase64(key.publicKeyRaw) };
}
