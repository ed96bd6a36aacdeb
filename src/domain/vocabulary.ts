// The whole vocabulary of the service in one place: the closed sets of the M5 compatibility contract
// (DESIGN.md §3) and the ones this service adds. Existing clients and the runbook's SQL depend on
// these exact strings; the Drizzle schema types its text columns with them.

export const APPROVAL_STATUSES = [
  "pending",
  "approved",
  "rejected",
  "escalated",
  "expired",
  "auto_approved",
  "cancelled",
] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

export const POLICY_TYPES = ["cost", "capability", "resource", "rate_limit"] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

/** Approval levels by name, lowest to highest; the number is the level. */
export const APPROVAL_LEVELS = {
  auto_approve: 1,
  pre_approved: 2,
  agent_approve: 3,
  manual_approve: 4,
  owner_override: 5,
} as const;
export type ApprovalLevelName = keyof typeof APPROVAL_LEVELS;
export const LEVEL_NAMES = Object.keys(APPROVAL_LEVELS) as [ApprovalLevelName, ...ApprovalLevelName[]];

/** Used when no policy_approval_levels row matches a call. */
export const DEFAULT_POLICY = {
  approvalLevel: "agent_approve",
  autoApproveMaxCostCents: 100,
  autoApproveMaxTokens: 1000,
  escalationTimeoutSeconds: 300,
} as const;

export const DECISIONS = ["allow", "deny", "requires_approval"] as const;
export type Decision = (typeof DECISIONS)[number];

/** The checks an evaluation runs and what each can conclude. */
export const CHECK_NAMES = [
  "capability",
  "budget",
  "cost_ceiling",
  "token_ceiling",
  "approval_level",
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];
export const CHECK_OUTCOMES = ["pass", "deny", "require_approval", "skipped"] as const;
export type CheckOutcome = (typeof CHECK_OUTCOMES)[number];
export const VIOLATION_SEVERITIES = ["hard", "soft"] as const;

export const CAPABILITY_EFFECTS = ["allow", "deny", "require_approval"] as const;
export type CapabilityEffect = (typeof CAPABILITY_EFFECTS)[number];

export const BUDGET_PERIODS = ["day", "month"] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export const BUDGET_ENFORCEMENTS = ["hard", "soft"] as const;
export type BudgetEnforcement = (typeof BUDGET_ENFORCEMENTS)[number];

export const SPEND_SOURCES = ["approval", "auto_approval", "usage"] as const;
export type SpendSource = (typeof SPEND_SOURCES)[number];

export const ROLES = ["agent", "approver", "admin"] as const;

/**
 * Where the principal directory reaches people (src/db/schema/directory.ts): an email address, a
 * Microsoft Teams or Google Chat incoming webhook, or a signed approver webhook (Standard Webhooks) for
 * PagerDuty, Opsgenie or anything else.
 */
export const CONTACT_CHANNELS = ["email", "teams", "google_chat", "webhook"] as const;
export type ContactChannel = (typeof CONTACT_CHANNELS)[number];

/**
 * What a delivery of the outbox (webhook_outbox) goes out as: the request's own webhook (webhook_url,
 * the M5 events), or a notification through one of the directory's contact channels or a tenant's
 * Slack workspace (issue 26), or a Web Push to one browser subscription (issue 31). One queue, one
 * consumer, one set of retries, dead letters, attempts and pause switch for all of them.
 */
export const DELIVERY_CHANNELS = ["request_webhook", ...CONTACT_CHANNELS, "slack", "push"] as const;
export type DeliveryChannel = (typeof DELIVERY_CHANNELS)[number];

/**
 * Why someone is told: a request needs them, was escalated to them, is still waiting, or was decided;
 * `progress` (an approval of a quorum) only updates messages already posted (Slack), it tells no one.
 */
export const NOTIFICATION_KINDS = [
  "approval_needed",
  "escalated",
  "reminder",
  "decided",
  "progress",
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];
export type Role = (typeof ROLES)[number];

export const WEBHOOK_EVENTS = {
  created: "approval_request_created",
  approvalAdded: "approval_added",
  /** An approver below the required level commented; nothing was decided. */
  noteAdded: "approval_note_added",
  approved: "approval_request_approved",
  rejected: "approval_request_rejected",
  escalated: "approval_request_escalated",
  expired: "approval_request_expired",
  cancelled: "approval_request_cancelled",
} as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[keyof typeof WEBHOOK_EVENTS];

/** Where a webhook delivery stands. */
export const DELIVERY_STATUSES = ["pending", "delivered", "skipped", "failed", "dead"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** What one delivery attempt came to. */
export const ATTEMPT_OUTCOMES = ["success", "retry", "failed", "skipped", "paused"] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One entry of `status_history_json`: the audit trail of a request. */
export interface StatusHistoryEntry {
  from_status: ApprovalStatus | null;
  to_status: ApprovalStatus;
  actor: string;
  reason: string | null;
  timestamp: string;
}

/** One step of an escalation chain: after `after_seconds` without a decision, reassign to `escalate_to`. */
export interface EscalationTier {
  escalate_to: string;
  after_seconds: number;
}

/** Entry points other than the API that decide, named on the approval entry they write (issue 26). */
export const DECISION_CHANNELS = ["console", "slack"] as const;
export type DecisionChannel = (typeof DECISION_CHANNELS)[number];

/** What an approver's entry records; `note`: an approver below the required level, deciding nothing. */
export const APPROVER_ACTIONS = ["approve", "reject", "note"] as const;
export type ApproverAction = (typeof APPROVER_ACTIONS)[number];

/** One approver's action on a request (`approvers[]` in the API). */
export interface ApprovalEntry {
  approver_id: string;
  level: number;
  action: ApproverAction;
  notes: string | null;
  timestamp: string;
  /**
   * The principal the approver stood in for (an active delegation, issue 25); absent otherwise. The
   * approver still acted at its own level.
   */
  on_behalf_of?: string;
  /** The entry point a decision came through when it was not the API (console, Slack); absent otherwise. */
  via?: DecisionChannel;
  /**
   * The SHA-256 of the payload this approval approved (issue 27), present on an approve that edited
   * the payload and on every approve while an edited payload stands; absent, it approved the filed one.
   */
  payload_sha256?: string;
}

const NAME_OF_LEVEL = Object.fromEntries(
  Object.entries(APPROVAL_LEVELS).map(([name, level]) => [level, name]),
) as Record<number, ApprovalLevelName>;

/** The level (1–5) of a name or number; undefined for anything else (callers reject it or treat it as strictest). */
export function toLevel(value: string | number): number | undefined {
  if (typeof value === "number")
    return Number.isInteger(value) && value >= 1 && value <= 5 ? value : undefined;
  return Object.hasOwn(APPROVAL_LEVELS, value) ? APPROVAL_LEVELS[value as ApprovalLevelName] : undefined;
}

export function levelName(level: number): ApprovalLevelName | undefined {
  return NAME_OF_LEVEL[level];
}
