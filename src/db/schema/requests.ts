// Approval requests: one row per request filed for a human decision, with its approvals, escalation
// state, webhook settings and idempotency record. The M5 runbook's SQL reads and updates this table.
import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, smallint, text, uniqueIndex } from "drizzle-orm/pg-core";
import {
  APPROVAL_STATUSES,
  type ApprovalEntry,
  type ApprovalStatus,
  POLICY_TYPES,
  type PolicyType,
  type StatusHistoryEntry,
} from "../../domain/vocabulary.ts";
import { quotedList, timestamptz } from "./columns.ts";

export const approvalRequests = pgTable(
  "approval_requests",
  {
    /** `apr_` + 16 hex characters. */
    id: text("id").primaryKey(),
    correlationId: text("correlation_id").notNull(),
    status: text("status").$type<ApprovalStatus>().notNull().default("pending"),
    statusHistoryJson: jsonb("status_history_json").$type<StatusHistoryEntry[]>().notNull().default([]),
    policyType: text("policy_type").$type<PolicyType>().notNull(),
    skillId: text("skill_id").notNull(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id"),
    payload: jsonb("payload").$type<unknown>().notNull(),
    /** SHA-256 of the canonical payload: an approval is bound to exactly this action. */
    payloadHash: text("payload_hash").notNull(),
    /**
     * The payload as an approver edited it on approve (issue 27), NULL while the filed one stands; the
     * filed `payload` is never changed. Approvals count toward the one whose hash is current, and the
     * receipt binds it.
     */
    approvedPayload: jsonb("approved_payload").$type<unknown>(),
    approvedPayloadHash: text("approved_payload_hash"),
    requestedBy: text("requested_by").notNull(),
    /** The API key that filed the request: it may never approve it (nor may `requested_by`). */
    createdByKeyId: text("created_by_key_id"),
    /**
     * The principal of the key that filed the request. It counts as the requester whatever
     * `requested_by` says, so another key of the same principal cannot approve it either.
     */
    requesterPrincipalId: text("requester_principal_id"),
    justification: text("justification"),
    /** Approval level needed (1 auto_approve … 5 owner_override). */
    requiredLevel: smallint("required_level").notNull(),
    /** Highest level approved so far; 0 before any approval. */
    currentLevel: smallint("current_level").notNull().default(0),
    requiredApprovals: smallint("required_approvals").notNull().default(1),
    approvalsJson: jsonb("approvals_json").$type<ApprovalEntry[]>().notNull().default([]),
    escalateTo: text("escalate_to"),
    escalationTimeoutSeconds: integer("escalation_timeout_seconds").notNull().default(300),
    escalatedAt: timestamptz("escalated_at"),
    /** When the next escalation step is due; NULL when the chain has ended (or the request is decided). */
    escalationDeadline: timestamptz("escalation_deadline"),
    /** Escalation steps taken so far: the index of the next tier in policy_snapshot.escalation_chain. */
    escalationTier: smallint("escalation_tier").notNull().default(0),
    /** The policy row(s) this request was judged by, frozen at creation. */
    policySnapshot: jsonb("policy_snapshot").$type<Record<string, unknown>>().notNull().default({}),
    estimatedCostCents: integer("estimated_cost_cents").notNull().default(0),
    /** NULL means "send nothing" (the runbook's emergency UPDATE relies on it). */
    webhookUrl: text("webhook_url"),
    /** AES-GCM ciphertext of the webhook secret; never returned by the API. */
    webhookSecretEncrypted: text("webhook_secret_encrypted"),
    webhookKeyVersion: integer("webhook_key_version"),
    webhookAttempts: integer("webhook_attempts").notNull().default(0),
    /** 'success' after a delivered webhook, otherwise the last failure (e.g. 'http_500'). */
    lastWebhookStatus: text("last_webhook_status"),
    lastWebhookAt: timestamptz("last_webhook_at"),
    /** Idempotency-Key of the create call, scoped to the key that sent it (created_by_key_id). */
    idempotencyKey: text("idempotency_key"),
    /** SHA-256 of the create body that came with the Idempotency-Key: a different body is a 409. */
    idempotencyBodyHash: text("idempotency_body_hash"),
    /** The create answer, replayed verbatim to a retry with the same key and body. */
    createResponse: jsonb("create_response").$type<Record<string, unknown>>(),
    /** Optimistic-concurrency counter: every transition is a compare-and-swap on it. */
    version: integer("version").notNull().default(1),
    expiresAt: timestamptz("expires_at").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    resolvedAt: timestamptz("resolved_at"),
    /**
     * The signed receipt of a final approval (issue 27, src/domain/receipts.ts), written by the statement
     * that approves; NULL otherwise. Its id is the JWS's jti; kid the key that signed it.
     */
    receiptId: text("receipt_id"),
    receiptJws: text("receipt_jws"),
    receiptKid: text("receipt_kid"),
    receiptNotAfter: timestamptz("receipt_not_after"),
    /** Set once by the single-use redeem, with the principal whose key redeemed it. */
    receiptRedeemedAt: timestamptz("receipt_redeemed_at"),
    receiptRedeemedBy: text("receipt_redeemed_by"),
  },
  (table) => [
    uniqueIndex("approval_requests_correlation_id_key").on(table.correlationId),
    index("approval_requests_status_tenant_idx").on(table.status, table.tenantId),
    index("approval_requests_expires_status_idx").on(table.expiresAt, table.status),
    index("approval_requests_created_status_idx").on(table.createdAt, table.status),
    // The pending queue is small and hot: list, count and escalate read only this index.
    index("approval_requests_pending_idx")
      .on(table.tenantId, table.createdAt)
      .where(sql`${table.status} = 'pending'`),
    uniqueIndex("approval_requests_idempotency_key")
      .on(table.createdByKeyId, table.idempotencyKey)
      .where(sql`${table.idempotencyKey} IS NOT NULL`),
    index("approval_requests_list_idx").on(table.tenantId, table.createdAt, table.id),
    // What the escalation job reads each minute: open requests by deadline, oldest first.
    index("approval_requests_escalation_due_idx")
      .on(table.escalationDeadline)
      .where(sql`${table.status} IN ('pending', 'escalated') AND ${table.escalationDeadline} IS NOT NULL`),
    index("approval_requests_open_expiry_idx")
      .on(table.expiresAt)
      .where(sql`${table.status} IN ('pending', 'escalated')`),
    check("approval_requests_id_format", sql`${table.id} ~ '^apr_[0-9a-f]{16}$'`),
    // The redeem finds a receipt by id; the JWKS asks which keys signed receipts still in use.
    uniqueIndex("approval_requests_receipt_id_key")
      .on(table.receiptId)
      .where(sql`${table.receiptId} IS NOT NULL`),
    index("approval_requests_receipt_kid_idx")
      .on(table.receiptKid, table.receiptNotAfter)
      .where(sql`${table.receiptKid} IS NOT NULL`),
    check(
      "approval_requests_approved_payload_complete",
      sql`(${table.approvedPayload} IS NULL) = (${table.approvedPayloadHash} IS NULL)`,
    ),
    check(
      "approval_requests_receipt_complete",
      sql`(${table.receiptId} IS NULL) = (${table.receiptJws} IS NULL)
        AND (${table.receiptId} IS NULL) = (${table.receiptKid} IS NULL)
        AND (${table.receiptId} IS NULL) = (${table.receiptNotAfter} IS NULL)
        AND (${table.receiptRedeemedAt} IS NULL) = (${table.receiptRedeemedBy} IS NULL)
        AND (${table.receiptRedeemedAt} IS NULL OR ${table.receiptId} IS NOT NULL)`,
    ),
    check("approval_requests_status_valid", sql`${table.status} IN (${quotedList(APPROVAL_STATUSES)})`),
    check("approval_requests_policy_type_valid", sql`${table.policyType} IN (${quotedList(POLICY_TYPES)})`),
    check("approval_requests_required_level_range", sql`${table.requiredLevel} BETWEEN 1 AND 5`),
    check("approval_requests_current_level_range", sql`${table.currentLevel} BETWEEN 0 AND 5`),
    check("approval_requests_required_approvals_positive", sql`${table.requiredApprovals} >= 1`),
    check("approval_requests_webhook_attempts_nonnegative", sql`${table.webhookAttempts} >= 0`),
  ],
);

export type ApprovalRequestRow = typeof approvalRequests.$inferSelect;
