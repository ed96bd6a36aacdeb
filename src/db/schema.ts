// The Drizzle schema: the single source for the SQL in migrations/ (drizzle-kit generates it from here).
// Table and column names the M5 runbook's SQL touches are part of the compatibility contract
// (DESIGN.md §3): approval_requests(id, status, status_history_json, webhook_url, webhook_attempts,
// last_webhook_status, created_at, resolved_at) and policy_approval_levels(approval_level).
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  unique,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import {
  APPROVAL_STATUSES,
  type ApprovalEntry,
  type ApprovalStatus,
  type AttemptOutcome,
  BUDGET_ENFORCEMENTS,
  BUDGET_PERIODS,
  CAPABILITY_EFFECTS,
  DECISIONS,
  DELIVERY_STATUSES,
  type DeliveryStatus,
  type EscalationTier,
  POLICY_TYPES,
  type PolicyType,
  ROLES,
  SPEND_SOURCES,
  type StatusHistoryEntry,
  type WebhookEvent,
} from "../domain/vocabulary.ts";

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
const quotedList = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(", "));

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
    policyType: text("policy_type").$type<PolicyType>().notNull(),
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
    /**
     * Ordered escalation tiers `[{escalate_to, after_seconds}]`: each reassigns a request still
     * undecided `after_seconds` after the previous step. Empty: one step to `escalate_to` after
     * `escalation_timeout_seconds`.
     */
    escalationChain: jsonb("escalation_chain").$type<EscalationTier[]>().notNull().default([]),
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
    /**
     * Agent keys: the agents the key may act for, as exact ids or prefixes ending in `*` (`["*"]`: a
     * platform key acting for any agent). NULL: only the key's own principal.
     */
    agentIds: text("agent_ids").array(),
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

/**
 * Webhook events waiting for delivery, written in the same statement as the transition that caused
 * them, so an event exists exactly when its change committed. The webhook issue's queue consumer
 * delivers them.
 */
export const webhookOutbox = pgTable(
  "webhook_outbox",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    requestId: text("request_id").notNull(),
    event: text("event").$type<WebhookEvent>().notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    deliveredAt: timestamptz("delivered_at"),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    /** pending (to send or retrying), delivered, skipped (no webhook_url), failed (permanent), dead (retries exhausted). */
    status: text("status").$type<DeliveryStatus>().notNull().default("pending"),
    /** When it was last handed to the queue; NULL: never, or handed back (paused), so the sweep sends it. */
    enqueuedAt: timestamptz("enqueued_at"),
    lastAttemptAt: timestamptz("last_attempt_at"),
  },
  (table) => [
    index("webhook_outbox_undelivered_idx").on(table.createdAt).where(sql`${table.deliveredAt} IS NULL`),
    index("webhook_outbox_request_idx").on(table.requestId, table.id),
    // What the sweep reads: deliveries still to send.
    index("webhook_outbox_pending_idx").on(table.createdAt).where(sql`${table.status} = 'pending'`),
    check("webhook_outbox_status_valid", sql`${table.status} IN (${quotedList(DELIVERY_STATUSES)})`),
  ],
);

/** One try at sending a delivery: what was sent where, what came back, how long it took. */
export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    deliveryId: bigint("delivery_id", { mode: "number" }).notNull(),
    attempt: integer("attempt").notNull(),
    outcome: text("outcome").$type<AttemptOutcome>().notNull(),
    statusCode: integer("status_code"),
    /** Network error, timeout, refusal reason; never a secret. */
    error: text("error"),
    /** The first bytes of the response body, for diagnosis. */
    responseExcerpt: text("response_excerpt"),
    durationMs: integer("duration_ms").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [index("webhook_attempts_delivery_idx").on(table.deliveryId, table.id)],
);

/** Which skills a tenant's (or one agent's) calls may use. Most specific match wins. */
export const capabilityRules = pgTable(
  "capability_rules",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    /** NULL: every agent of the tenant. */
    agentId: text("agent_id"),
    /** An exact skill id, or a prefix ending in `*` ("email.*"), or `*` for every skill. */
    skillPattern: text("skill_pattern").notNull(),
    effect: text("effect", { enum: CAPABILITY_EFFECTS }).notNull(),
    /** For require_approval: the level needed (name); NULL uses the policy's level (at least agent_approve). */
    approvalLevel: text("approval_level"),
    description: text("description"),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    unique("capability_rules_scope_key")
      .on(table.tenantId, table.agentId, table.skillPattern)
      .nullsNotDistinct(),
    check("capability_rules_effect_valid", sql`${table.effect} IN (${quotedList(CAPABILITY_EFFECTS)})`),
    check("capability_rules_pattern_format", sql`${table.skillPattern} ~ '^([^*]+[*]?|[*])$'`),
  ],
);

/** Spending limits per tenant (or one agent) per UTC day or month. */
export const budgets = pgTable(
  "budgets",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    /** NULL: the whole tenant's spend; otherwise only this agent's. */
    agentId: text("agent_id"),
    period: text("period", { enum: BUDGET_PERIODS }).notNull(),
    limitCents: bigint("limit_cents", { mode: "number" }).notNull(),
    /** hard: over the limit is denied; soft: over the limit needs approval. */
    enforcement: text("enforcement", { enum: BUDGET_ENFORCEMENTS }).notNull().default("hard"),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    unique("budgets_scope_key").on(table.tenantId, table.agentId, table.period).nullsNotDistinct(),
    check("budgets_period_valid", sql`${table.period} IN (${quotedList(BUDGET_PERIODS)})`),
    check("budgets_enforcement_valid", sql`${table.enforcement} IN (${quotedList(BUDGET_ENFORCEMENTS)})`),
    check("budgets_limit_nonnegative", sql`${table.limitCents} >= 0`),
  ],
);

/** The spend ledger: approved and auto-approved requests, and usage the platform reports. */
export const spendLedger = pgTable(
  "spend_ledger",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id"),
    skillId: text("skill_id"),
    amountCents: bigint("amount_cents", { mode: "number" }).notNull(),
    source: text("source", { enum: SPEND_SOURCES }).notNull(),
    /** The request id or the reporter's usage id: one ledger entry per tenant and reference. */
    reference: text("reference").notNull(),
    occurredAt: timestamptz("occurred_at").notNull().defaultNow(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    // References are the reporter's ids: unique within a tenant, not across tenants.
    uniqueIndex("spend_ledger_tenant_reference_key").on(table.tenantId, table.source, table.reference),
    index("spend_ledger_tenant_time_idx").on(table.tenantId, table.occurredAt),
    index("spend_ledger_agent_time_idx").on(table.tenantId, table.agentId, table.occurredAt),
    check("spend_ledger_source_valid", sql`${table.source} IN (${quotedList(SPEND_SOURCES)})`),
    check("spend_ledger_amount_nonnegative", sql`${table.amountCents} >= 0`),
  ],
);

/** Cost model per skill: base cents plus cents per 1,000 tokens. */
export const skillCosts = pgTable(
  "skill_costs",
  {
    skillId: text("skill_id").primaryKey(),
    baseCents: integer("base_cents").notNull().default(0),
    centsPer1kTokens: integer("cents_per_1k_tokens").notNull().default(0),
    description: text("description"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    check("skill_costs_nonnegative", sql`${table.baseCents} >= 0 AND ${table.centsPer1kTokens} >= 0`),
  ],
);

/** Policy-wide settings: exactly one row (id 1). */
export const policySettings = pgTable(
  "policy_settings",
  {
    id: smallint("id").primaryKey().default(1),
    /** The capability effect when no rule matches. */
    capabilityDefaultEffect: text("capability_default_effect", { enum: CAPABILITY_EFFECTS })
      .notNull()
      .default("allow"),
    /** Cost of a skill with no cost model (the original service used 10 cents). */
    unknownSkillCostCents: integer("unknown_skill_cost_cents").notNull().default(10),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    check("policy_settings_single_row", sql`${table.id} = 1`),
    check(
      "policy_settings_default_effect_valid",
      sql`${table.capabilityDefaultEffect} IN (${quotedList(CAPABILITY_EFFECTS)})`,
    ),
    check("policy_settings_unknown_cost_nonnegative", sql`${table.unknownSkillCostCents} >= 0`),
  ],
);

/**
 * The policy-set version: one row, bumped by a trigger on every change to any policy table, whether
 * it came through the admin API or through hand-written SQL (the runbook's emergency UPDATE).
 */
export const policySetVersion = pgTable(
  "policy_set_version",
  {
    id: smallint("id").primaryKey().default(1),
    version: bigint("version", { mode: "number" }).notNull().default(1),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [check("policy_set_version_single_row", sql`${table.id} = 1`)],
);

/** Every evaluation answered by POST /api/v1/policy/eval. */
export const policyDecisions = pgTable(
  "policy_decisions",
  {
    /** `dec_` + 20 hex characters. */
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id"),
    skillId: text("skill_id").notNull(),
    policyType: text("policy_type").$type<PolicyType>().notNull(),
    decision: text("decision", { enum: DECISIONS }).notNull(),
    approvalLevelRequired: smallint("approval_level_required").notNull(),
    simulatedCostCents: integer("simulated_cost_cents").notNull(),
    policyVersion: bigint("policy_version", { mode: "number" }).notNull(),
    overridesUsed: boolean("overrides_used").notNull().default(false),
    reasons: jsonb("reasons").$type<string[]>().notNull(),
    violations: jsonb("violations").$type<unknown[]>().notNull(),
    checks: jsonb("checks").$type<unknown[]>().notNull(),
    principalId: text("principal_id").notNull(),
    keyId: text("key_id").notNull(),
    requestId: text("request_id"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    index("policy_decisions_tenant_created_idx").on(table.tenantId, table.createdAt),
    index("policy_decisions_created_idx").on(table.createdAt),
    check("policy_decisions_decision_valid", sql`${table.decision} IN (${quotedList(DECISIONS)})`),
  ],
);

/**
 * Running totals of the spend ledger per tenant (agent_id '') and per agent, per UTC day and month,
 * kept by a trigger on spend_ledger (migration 0012). Budget checks read at most four of these rows
 * instead of summing a month of ledger entries on every evaluation and filing.
 */
export const spendTotals = pgTable(
  "spend_totals",
  {
    tenantId: text("tenant_id").notNull(),
    /** '' for the tenant as a whole. */
    agentId: text("agent_id").notNull().default(""),
    period: text("period", { enum: BUDGET_PERIODS }).notNull(),
    periodStart: timestamptz("period_start").notNull(),
    amountCents: bigint("amount_cents", { mode: "number" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.tenantId, table.agentId, table.period, table.periodStart] }),
    check("spend_totals_period_valid", sql`${table.period} IN (${quotedList(BUDGET_PERIODS)})`),
  ],
);

/** Operator switches and the last run of each background job (one row per job, e.g. "escalation"). */
export const jobControls = pgTable("job_controls", {
  job: text("job").primaryKey(),
  paused: boolean("paused").notNull().default(false),
  /** Why it was paused or resumed, by whom and when (also in audit_events). */
  reason: text("reason"),
  changedBy: text("changed_by"),
  changedAt: timestamptz("changed_at"),
  /** The summary of the last run (the JSON line the run logged). */
  lastRun: jsonb("last_run").$type<Record<string, unknown>>(),
  lastRunAt: timestamptz("last_run_at"),
});

/**
 * Emergency operations that change policy in bulk keep what they changed here, so a restore puts it
 * back exactly (e.g. disable auto-approve: each row's previous approval level).
 */
export const emergencySnapshots = pgTable(
  "emergency_snapshots",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    operation: text("operation").notNull(),
    reason: text("reason").notNull(),
    takenBy: text("taken_by").notNull(),
    takenAt: timestamptz("taken_at").notNull().defaultNow(),
    /** What to put back: for disable_auto_approve, [{id, approval_level}]. */
    data: jsonb("data").$type<{ id: number; approval_level: string }[]>().notNull(),
    restoredBy: text("restored_by"),
    restoredAt: timestamptz("restored_at"),
  },
  (table) => [
    index("emergency_snapshots_open_idx")
      .on(table.operation, table.id)
      .where(sql`${table.restoredAt} IS NULL`),
  ],
);

/**
 * Approver console sign-ins. The session token lives only in the browser's HttpOnly cookie; this
 * keeps its SHA-256, the key it stands for (checked, with the key's own revocation, on every use),
 * its expiry and its sign-out.
 */
export const consoleSessions = pgTable(
  "console_sessions",
  {
    tokenHash: text("token_hash").primaryKey(),
    keyId: text("key_id")
      .notNull()
      .references(() => apiKeys.id, { onDelete: "cascade" }),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
    revokedAt: timestamptz("revoked_at"),
  },
  (table) => [index("console_sessions_key_idx").on(table.keyId)],
);

/**
 * The tamper-evident audit trail (migration 0014): every audit record (audit_events rows, approval
 * request creations, transitions and approvals) appended by triggers in the same transaction as the
 * change, one hash chain per tenant plus the global chain '*'. `content` holds the exact bytes hashed;
 * `hash` = SHA-256 of prev_hash, chain_id, seq and content (src/domain/audit-chain.ts verifies it).
 */
export const auditChain = pgTable(
  "audit_chain",
  {
    /** The tenant id, or '*' for records without a tenant (global keys, switches, emergency operations). */
    chainId: text("chain_id").notNull(),
    /** 1, 2, 3… within the chain, without gaps. */
    seq: bigint("seq", { mode: "number" }).notNull(),
    /** What happened, e.g. "audit_event", "approval_request.created", "approval_request.changed". */
    kind: text("kind").notNull(),
    sourceTable: text("source_table").notNull(),
    sourceId: text("source_id").notNull(),
    /** Canonical JSON text (jsonb's own rendering), hashed byte for byte. */
    content: text("content").notNull(),
    /** The previous record's hash; 64 zeros for the first record. */
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.chainId, table.seq] }),
    // The export's time slices (migration 0015): find a chain's first and last record in a window.
    index("audit_chain_created_idx").on(table.chainId, table.createdAt),
    check("audit_chain_seq_positive", sql`${table.seq} >= 1`),
    check(
      "audit_chain_hash_format",
      sql`${table.hash} ~ '^[0-9a-f]{64}$' AND ${table.prevHash} ~ '^[0-9a-f]{64}$'`,
    ),
  ],
);

/**
 * Signed checkpoints of the audit chains (migration 0015): every minute the cron signs the head of each
 * chain that moved, with the AUDIT_SIGNING_KEY secret (Ed25519), so an export can be checked against
 * something a writer of the database cannot forge (src/domain/audit-checkpoint.ts). Append-only.
 */
export const auditCheckpoints = pgTable(
  "audit_checkpoints",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    chainId: text("chain_id").notNull(),
    /** The head's seq when signed: records 1..seq are covered. */
    seq: bigint("seq", { mode: "number" }).notNull(),
    headHash: text("head_hash").notNull(),
    /** Part of the signed message (ISO, milliseconds). */
    signedAt: timestamptz("signed_at").notNull(),
    /** First 16 hex of SHA-256 of the raw public key. */
    keyId: text("key_id").notNull(),
    /** Ed25519 signature, base64. */
    signature: text("signature").notNull(),
  },
  (table) => [
    // One checkpoint per head and key: overlapping cron runs insert it once (ON CONFLICT DO NOTHING).
    uniqueIndex("audit_checkpoints_chain_seq_key_idx").on(table.chainId, table.seq, table.keyId),
    check("audit_checkpoints_seq_positive", sql`${table.seq} >= 1`),
    check("audit_checkpoints_hash_format", sql`${table.headHash} ~ '^[0-9a-f]{64}$'`),
  ],
);

export type AuditChainRow = typeof auditChain.$inferSelect;
export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
export type JobControlRow = typeof jobControls.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type ConsoleSessionRow = typeof consoleSessions.$inferSelect;
export type WebhookOutboxRow = typeof webhookOutbox.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;
export type CapabilityRuleRow = typeof capabilityRules.$inferSelect;
export type BudgetRow = typeof budgets.$inferSelect;
export type SkillCostRow = typeof skillCosts.$inferSelect;
export type PolicySettingsRow = typeof policySettings.$inferSelect;
export type PolicyDecisionRow = typeof policyDecisions.$inferSelect;
export type ApprovalRequestRow = typeof approvalRequests.$inferSelect;
export type PolicyApprovalLevelRow = typeof policyApprovalLevels.$inferSelect;
export type SpendLedgerRow = typeof spendLedger.$inferSelect;
