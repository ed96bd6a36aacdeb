// Receipt statements (issue 27): the assignments a final approval adds to its transition (the receipt
// is written by the statement that approves, or not at all), the key registry behind the JWKS, and the
// single-use redeem, audited in the same statement.
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type ApprovalRequestRow, approvalRequests, auditEvents, receiptKeys } from "./schema.ts";

/** A registered public key, as stored (the JWKS publishes it as it is). */
export type PublicKeyJwk = Record<"kty" | "crv" | "x" | "kid" | "alg" | "use", string>;

/** A receipt as issued: stored on the request by the statement that approves it. */
export interface IssuedReceipt {
  id: string;
  jws: string;
  kid: string;
  notAfter: Date;
}

/** The receipt columns, as `column = value` assignments of a transition (or values of an insert). */
export function receiptAssignments(
  receipt: IssuedReceipt,
  bind: (name: string, value: unknown) => unknown = (_name, value) => value,
): SQL[] {
  return [
    sql`receipt_id = ${bind("receipt_id", receipt.id)}`,
    sql`receipt_jws = ${bind("receipt_jws", receipt.jws)}`,
    sql`receipt_kid = ${bind("receipt_kid", receipt.kid)}`,
    sql`receipt_not_after = ${bind("receipt_not_after", receipt.notAfter.toISOString())}::timestamptz`,
  ];
}

/** Registers a signing key's public JWK (once; a second registration of the same kid changes nothing). */
export async function registerReceiptKey(db: Database, kid: string, publicJwk: PublicKeyJwk): Promise<void> {
  await db.insert(receiptKeys).values({ kid, publicJwk }).onConflictDoNothing();
}

/** How long a retired key stays published after the last receipt it signed expired: clock skew. */
const RETIRED_KEY_GRACE = "1 hour";

/**
 * The public keys to publish: the current one, and every registered key that signed a receipt whose
 * not-after has not passed (plus a grace for clock skew), so a rotation invalidates no usable receipt.
 */
export async function publishedReceiptKeys(db: Database, currentKid: string | null): Promise<PublicKeyJwk[]> {
  const result = await db.execute(sql`
    SELECT k.public_jwk FROM ${receiptKeys} k
    WHERE k.kid = ${currentKid}
       OR EXISTS (SELECT 1 FROM ${approvalRequests} r
                  WHERE r.receipt_kid = k.kid AND r.receipt_not_after > now() - ${RETIRED_KEY_GRACE}::interval)
    ORDER BY k.kid = ${currentKid} DESC, k.registered_at DESC`);
  return (result.rows as { public_jwk: PublicKeyJwk }[]).map((row) => row.public_jwk);
}

export type RedeemOutcome =
  | { outcome: "redeemed"; requestId: string; tenantId: string; redeemedAt: Date }
  | { outcome: "missing" }
  | { outcome: "already_redeemed"; tenantId: string; redeemedAt: Date | null }
  | { outcome: "expired"; tenantId: string };

/**
 * Marks receipt `id` redeemed by `principalId`, atomically: the UPDATE's `receipt_redeemed_at IS NULL`
 * lets exactly one of any number of concurrent redeems through, and its audit event commits with it.
 * `tenantScope` (a scoped key's tenant) hides other tenants' receipts as missing.
 */
export async function redeemReceiptRow(
  db: Database,
  id: string,
  actor: { principalId: string; keyId: string; tenantScope: string | null; httpRequestId: string | null },
  at: Date,
): Promise<RedeemOutcome> {
  const scope = actor.tenantScope === null ? sql`TRUE` : sql`tenant_id = ${actor.tenantScope}`;
  const result = await db.execute(sql`
    WITH target AS (
      SELECT id, tenant_id, receipt_redeemed_at, receipt_not_after FROM ${approvalRequests}
      WHERE receipt_id = ${id} AND ${scope}
    ),
    redeemed AS (
      UPDATE ${approvalRequests} SET receipt_redeemed_at = ${at.toISOString()}::timestamptz,
        receipt_redeemed_by = ${actor.principalId}
      WHERE receipt_id = ${id} AND ${scope} AND receipt_redeemed_at IS NULL
        AND receipt_not_after > ${at.toISOString()}::timestamptz
      RETURNING id, tenant_id
    ),
    audited AS (
      INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, after, request_id)
      SELECT ${actor.principalId}, ${actor.keyId}, 'receipt.redeemed', 'receipt', ${id},
        jsonb_build_object('request_id', redeemed.id, 'tenant_id', redeemed.tenant_id,
                           'redeemed_at', ${at.toISOString()}::text),
        ${actor.httpRequestId}
      FROM redeemed
    )
    SELECT target.id, target.tenant_id, target.receipt_redeemed_at, target.receipt_not_after,
      EXISTS (SELECT 1 FROM redeemed) AS redeemed
    FROM target`);
  const [row] = result.rows as {
    id: string;
    tenant_id: string;
    receipt_redeemed_at: string | Date | null;
    receipt_not_after: string | Date;
    redeemed: boolean;
  }[];
  if (!row) return { outcome: "missing" };
  if (row.redeemed)
    return { outcome: "redeemed", requestId: row.id, tenantId: row.tenant_id, redeemedAt: at };
  if (row.receipt_redeemed_at !== null) {
    return {
      outcome: "already_redeemed",
      tenantId: row.tenant_id,
      redeemedAt: new Date(row.receipt_redeemed_at),
    };
  }
  if (new Date(row.receipt_not_after).getTime() <= at.getTime())
    return { outcome: "expired", tenantId: row.tenant_id };
  // Unredeemed in this statement's snapshot, yet not redeemed by it: a concurrent redeem took it first
  // (the UPDATE waited for that row lock and found receipt_redeemed_at set).
  return { outcome: "already_redeemed", tenantId: row.tenant_id, redeemedAt: null };
}

/** The request holding receipt `id`, or undefined. */
export async function loadRequestByReceipt(
  db: Database,
  id: string,
): Promise<ApprovalRequestRow | undefined> {
  const [row] = await db.select().from(approvalRequests).where(sql`receipt_id = ${id}`).limit(1);
  return row;
}
