// Checking an approval receipt (issue 27), offline: the one function a tool runner (and the SDK) calls
// before it acts. Given the receipt, the service's JWKS (GET /.well-known/jwks.json, fetched and cached
// by the caller) and the payload it is about to act on, it checks, with jose: the signature by a key of
// the set (by `kid`, EdDSA only), the type and issuer, the not-after (`exp`) and issue time, and that
// the payload's canonical JSON hashes to the receipt's `payload_sha256`. It depends only on jose and
// pure code (no database, no config), so it can be copied into any runtime with WebCrypto.
import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from "jose";
import { canonicalJson, sha256Hex } from "../domain/encoding.ts";
import { RECEIPT_ALGORITHM, RECEIPT_ISSUER, RECEIPT_TYPE, type ReceiptClaims } from "../domain/receipts.ts";

/** Why a receipt does not allow the action; never a partial yes. */
export type ReceiptRefusal =
  | "malformed" // not a compact JWS of a receipt, or claims missing
  | "unknown_key" // no key of the set has its kid
  | "bad_signature" // the signature does not verify: forged or altered
  | "expired" // past its not-after: the action must start before it
  | "not_yet_valid" // issued in the future by more than the tolerance
  | "wrong_claims" // another issuer or type
  | "payload_mismatch" // the payload is not the one approved
  | "request_mismatch"; // a receipt of another request

export type ReceiptCheck = { ok: true; claims: ReceiptClaims } | { ok: false; refused: ReceiptRefusal };

export interface ReceiptExpectations {
  /** The exact payload the tool is about to act on (hashed here), or its hash. One of the two is required. */
  payload?: unknown;
  payloadSha256?: string;
  /** The request the caller expects the receipt to be about. */
  requestId?: string;
  /** Now; defaults to the clock. */
  now?: Date;
  /** Seconds of clock skew allowed on exp and iat; default 30. */
  clockToleranceSeconds?: number;
}

const REQUIRED_CLAIMS = ["sub", "jti", "iat", "exp", "tenant_id", "skill_id", "payload_sha256", "decision"];

/** Checks `receipt` against `jwks` and what the caller is about to do. */
export async function verifyReceipt(
  receipt: string,
  jwks: JSONWebKeySet,
  expected: ReceiptExpectations,
): Promise<ReceiptCheck> {
  if (expected.payload === undefined && expected.payloadSha256 === undefined) {
    throw new TypeError("verifyReceipt needs the payload (or its payloadSha256) the action will use");
  }
  let claims: ReceiptClaims;
  try {
    const verified = await jwtVerify(receipt, createLocalJWKSet(jwks), {
      algorithms: [RECEIPT_ALGORITHM],
      typ: RECEIPT_TYPE,
      issuer: RECEIPT_ISSUER,
      requiredClaims: REQUIRED_CLAIMS,
      currentDate: expected.now ?? new Date(),
      clockTolerance: expected.clockToleranceSeconds ?? 30,
    });
    claims = verified.payload as unknown as ReceiptClaims; // the required claims were checked present
  } catch (error) {
    return { ok: false, refused: refusalOf(error) };
  }
  if (expected.requestId !== undefined && claims.sub !== expected.requestId) {
    return { ok: false, refused: "request_mismatch" };
  }
  const hash = expected.payloadSha256 ?? (await sha256Hex(canonicalJson(expected.payload)));
  if (hash !== claims.payload_sha256) return { ok: false, refused: "payload_mismatch" };
  return { ok: true, claims };
}

function refusalOf(error: unknown): ReceiptRefusal {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWKSNoMatchingKey) return "unknown_key";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === "iat" || error.claim === "nbf" ? "not_yet_valid" : "wrong_claims";
  }
  return "malformed";
}
