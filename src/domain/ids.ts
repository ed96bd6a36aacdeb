// Every kind of id the service mints, and the patterns that recognise them. Ids are random (never
// sequential) so they reveal nothing about volume or order.
import { toHex } from "./encoding.ts";

/**
 * Random bytes drawn from the CSPRNG a kilobyte at a time: a request mints several ids, and a call to
 * getRandomValues per id cost more than the id itself. Each byte is handed out once.
 */
const pool = new Uint8Array(1024);
let poolOffset = pool.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const hex = toHex(pool.subarray(poolOffset, poolOffset + bytes));
  poolOffset += bytes;
  return hex;
}

/** Approval requests: `apr_` + 16 hex characters (the M5 format). */
export const REQUEST_ID_PATTERN = /^apr_[0-9a-f]{16}$/;
export const newRequestId = (): string => `apr_${randomHex(8)}`;

/** Correlation ids travel with every webhook event of a request. */
export const newCorrelationId = (): string => `cor_${randomHex(16)}`;

/** Logged policy decisions: `dec_` + 20 hex characters. */
export const DECISION_ID_PATTERN = /^dec_[0-9a-f]{20}$/;
export const newDecisionId = (): string => `dec_${randomHex(10)}`;

/** Candidate policy bundles (issue 29): `pcd_` + 16 hex characters. */
export const CANDIDATE_ID_PATTERN = /^pcd_[0-9a-f]{16}$/;
export const newCandidateId = (): string => `pcd_${randomHex(8)}`;

/** Receipt ids (issue 27): `rcp_` and 20 hex characters, the receipt's `jti`. */
export const RECEIPT_ID_PATTERN = /^rcp_[0-9a-f]{20}$/;
export const newReceiptId = (): string => `rcp_${randomHex(10)}`;

/** API keys: the public middle part of `pak_<key id>_<secret>`. */
export const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;
export const newKeyId = (): string => randomHex(8);

/**
 * Webhook events: `evt_<the request id's hex>_<sequence>`, the webhook-id header and the body's
 * event_id, where sequence is the event's place among its request's events (1, 2, …). Made of what the
 * receiver already holds, so it reveals nothing of other requests or tenants (a global counter told
 * every receiver the service's whole volume), and the same on every retry and redelivery.
 */
export const webhookEventId = (requestId: string, sequence: number): string =>
  `evt_${requestId.replace(/^apr_/, "")}_${sequence}`;

/** Background job runs (cron, manual): their log lines and audit rows carry it. */
export const newRunId = (): string => `run_${randomHex(16)}`;

/** HTTP request ids (X-Request-Id) when the caller sends none. */
export const newHttpRequestId = (): string => `req_${randomHex(16)}`;

/** A notification's event id for its receiver: the same on every retry (receivers de-duplicate on it). */
export function notificationEventId(deliveryId: number): string {
  return `ntf_${deliveryId}`;
}
