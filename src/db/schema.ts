// The Drizzle schema: the single source for the SQL in migrations/ (drizzle-kit generates it from here).
// Table and column names the M5 runbook's SQL touches are part of the compatibility contract
// (DESIGN.md §3): approval_requests(id, status, status_history_json, webhook_url, webhook_attempts,
// last_webhook_status, created_at, resolved_at) and policy_approval_levels(approval_level).
import { sql } from "drizzle-orm";
import {
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  smallint,
  text,
  timestamp,
  unique,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import { ROLES } from "../domain/api-keys.ts";
import { APPROVAL_STATUSES, POLICY_TYPES } from "../domain/vocabulary.ts";

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
const quotedList = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(", "));

/** One entry of `status_history_json`: the audit trail of a request. */
export interface StatusHistoryEntry {
  from_status: string | null;
  to_status: string;
  actor: string;
  reason: string | null;
  timestamp: string;
}

/** One approver's action on a request (`approvers[]` in the API). */
export interface ApprovalEntry {
  approver_id: string;
  level: number;
  action: "approve" | "reject";
  notes: string | null;
  timestamp: string;
}

export const approvalRequests = pgTable(
  "approval_requests",
  {
    /** `apr_` + 16 hex characters. */
    id: text("id").primaryKey(),
    correlationId: text("correlation_id").notNull(),
    status: text("status").notNull().default("pending"),
    statusHistoryJson: jsonb("status_history_json").$type<StatusHistoryEntry[]>().notNull().default([]),
    policyType: text("policy_type").notNull(),
    skillId: text("skill_id").notNull(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id"),
    payload: jsonb("payload").$type<unknown>().notNull(),
    /** SHA-256 of the canonical payload: an approval is bound to exactly this action. */
    payloadHash: text("payload_hash").notNull(),
    requestedBy: text("requested_by").notNull(),
    /** The API key that filed the request: it may never approve it (nor may `requested_by`). */
    createdByKeyId: text("created_by_key_id"),
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
    /** Optimistic-concurrency counter: every transition is a compare-and-swap on it. */
    version: integer("version").notNull().default(1),
    expiresAt: timestamptz("expires_at").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    resolvedAt: timestamptz("resolved_at"),
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
    check("approval_requests_id_format", sql`${table.id} ~ '^apr_[0-9a-f]{16}$'`),
    check("approval_requests_status_valid", sql`${table.status} IN (${quotedList(APPROVAL_STATUSES)})`),
    check("approval_requests_policy_type_valid", sql`${table.policyType} IN (${quotedList(POLICY_TYPES)})`),
    check("approval_requests_required_level_range", sql`${table.requiredLevel} BETWEEN 1 AND 5`),
    check("approval_requests_current_level_range", sql`${table.currentLevel} BETWEEN 0 AND 5`),
    check("approval_requests_required_approvals_positive", sql`${table.requiredApprovals} >= 1`),
    check("approval_requests_webhook_attempts_nonnegative", sql`${table.webhookAttempts} >= 0`),
  ],
);

export const policyApprovalLevels = pgTable(
  "policy_approval_levels",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    policyType: text("policy_type").notNull(),
    /** NULL = any tenant / agent / skill; the most specific matching row wins. */
    tenantId: text("tenant_id"),
    agentId: text("agent_id"),
    skillId: text("skill_id"),
    /**
     * Level by name: auto_approve, pre_approved, agent_approve, manual_approve, owner_override.
     * Deliberately not constrained here: the API rejects unknown names on write, and a name that
     * reaches the table by hand-written SQL is treated as the strictest level, never guessed.
     */
    approvalLevel: text("approval_level").notNull().default("agent_approve"),
    autoApproveMaxCostCents: integer("auto_approve_max_cost_cents").notNull().default(100),
    autoApproveMaxTokens: integer("auto_approve_max_tokens").notNull().default(1000),
    escalateTo: text("escalate_to"),
    escalationTimeoutSeconds: integer("escalation_timeout_seconds").notNull().default(300),
    requiredApprovals: smallint("required_approvals").notNull().default(1),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    // One row per scope; NULLs compare equal so there is exactly one global default per type.
    unique("policy_approval_levels_scope_key")
      .on(table.policyType, table.tenantId, table.agentId, table.skillId)
      .nullsNotDistinct(),
    check(
      "policy_approval_levels_policy_type_valid",
      sql`${table.policyType} IN (${quotedList(POLICY_TYPES)})`,
    ),
    check(
      "policy_approval_levels_ceilings_nonnegative",
      sql`${table.autoApproveMaxCostCents} >= 0 AND ${table.autoApproveMaxTokens} >= 0`,
    ),
    check("policy_approval_levels_timeout_positive", sql`${table.escalationTimeoutSeconds} > 0`),
    check("policy_approval_levels_required_approvals_positive", sql`${table.requiredApprovals} >= 1`),
  ],
);

export const apiKeys = pgTable(
  "api_keys",
  {
    /** 16 hex characters; the public middle part of the token `pak_<id>_<secret>`. */
    id: text("id").primaryKey(),
    /** SHA-256 (hex) of the token's secret part. The token itself is never stored. */
    secretHash: text("secret_hash").notNull(),
    name: text("name"),
    principalId: text("principal_id").notNull(),
    role: text("role", { enum: ROLES }).notNull(),
    /** Highest approval level the key may act at (1 auto_approve … 5 owner_override). */
    maxLevel: smallint("max_level").notNull(),
    /** NULL: every tenant. */
    tenantId: text("tenant_id"),
    createdBy: text("created_by").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    revokedAt: timestamptz("revoked_at"),
    revokedBy: text("revoked_by"),
    lastUsedAt: timestamptz("last_used_at"),
  },
  (table) => [
    index("api_keys_principal_idx").on(table.principalId),
    index("api_keys_tenant_idx").on(table.tenantId),
    check("api_keys_id_format", sql`${table.id} ~ '^[0-9a-f]{16}$'`),
    check("api_keys_secret_hash_format", sql`${table.secretHash} ~ '^[0-9a-f]{64}$'`),
    check("api_keys_role_valid", sql`${table.role} IN (${quotedList(ROLES)})`),
    check("api_keys_max_level_range", sql`${table.maxLevel} BETWEEN 1 AND 5`),
  ],
);

/** Who changed what and when: key management, policy changes, emergency actions. Append-only. */
export const auditEvents = pgTable(
  "audit_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    actor: text("actor").notNull(),
    /** The API key that acted ("bootstrap" for ADMIN_API_KEY, "cli" for the operator script). */
    actorKeyId: text("actor_key_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    before: jsonb("before").$type<Record<string, unknown>>(),
    after: jsonb("after").$type<Record<string, unknown>>(),
    requestId: text("request_id"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    index("audit_events_target_idx").on(table.targetType, table.targetId, table.createdAt),
    index("audit_events_created_idx").on(table.createdAt),
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type ApprovalRequestRow = typeof approvalRequests.$inferSelect;
export type PolicyApprovalLevelRow = typeof policyApprovalLevels.$inferSelect;
