// Signing approval receipts (issue 27) with jose: the RECEIPT_SIGNING_KEY secret (an Ed25519 private
// key, PKCS#8 DER, base64, the format of AUDIT_SIGNING_KEY) imported once per isolate, its public JWK
// and RFC 7638 thumbprint (the `kid`), and the compact JWS of a receipt's claims. The key is not the
// audit key: receipts live minutes and are checked by every tool runner, checkpoints are kept for years
// by auditors, so each rotates on its own schedule and a leak of one forges nothing of the other.
import { calculateJwkThumbprint, SignJWT } from "jose";
import { fromBase64 } from "../domain/encoding.ts";
import { RECEIPT_ALGORITHM, RECEIPT_TYPE, type ReceiptClaims } from "../domain/receipts.ts";

/** An Ed25519 public key as the JWKS publishes it (RFC 8037). */
export type PublicReceiptJwk = Record<"kty" | "crv" | "x" | "kid" | "alg" | "use", string>;

export interface ReceiptSigningKey {
  kid: string;
  /** The public half as published in the JWKS. */
  publicJwk: PublicReceiptJwk;
  privateKey: CryptoKey;
}

/**
 * Imports the secret; the public key comes from a JWK export of an extractable import (its `x`), and
 * the key kept for signing is a second, non-extractable import. Throws on anything but Ed25519.
 */
export async function importReceiptSigningKey(pkcs8Base64: string): Promise<ReceiptSigningKey> {
  const der = fromBase64(pkcs8Base64.trim());
  const extractable = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
  const { x } = (await crypto.subtle.exportKey("jwk", extractable)) as { x?: string };
  if (!x) throw new Error("RECEIPT_SIGNING_KEY: the key has no public part");
  const publicPart = { kty: "OKP", crv: "Ed25519", x };
  const kid = await calculateJwkThumbprint(publicPart, "sha256");
  const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  return { kid, publicJwk: { ...publicPart, kid, alg: RECEIPT_ALGORITHM, use: "sig" }, privateKey };
}

/** The compact JWS of `claims`: header {alg: EdDSA, typ, kid}. */
export async function signReceipt(key: ReceiptSigningKey, claims: ReceiptClaims): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: RECEIPT_ALGORITHM, typ: RECEIPT_TYPE, kid: key.kid })
    .sign(key.privateKey);
}
