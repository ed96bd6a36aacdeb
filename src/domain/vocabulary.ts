// The closed vocabularies of the M5 compatibility contract (DESIGN.md §3). Existing clients and the
// runbook's SQL depend on these exact strings.

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

/** Used when no policy_approval_levels row matches a call. */
export const DEFAULT_POLICY = {
  approvalLevel: "agent_approve",
  autoApproveMaxCostCents: 100,
  autoApproveMaxTokens: 1000,
  escalationTimeoutSeconds: 300,
} as const;

const LEVEL_NAMES = Object.fromEntries(
  Object.entries(APPROVAL_LEVELS).map(([name, level]) => [level, name]),
) as Record<number, ApprovalLevelName>;

/** The level (1–5) of a name or number; undefined for anything else (callers reject it or treat it as strictest). */
export function toLevel(value: string | number): number | undefined {
  if (typeof value === "number")
    return Number.isInteger(value) && value >= 1 && value <= 5 ? value : undefined;
  return Object.hasOwn(APPROVAL_LEVELS, value) ? APPROVAL_LEVELS[value as ApprovalLevelName] : undefined;
}

export function levelName(level: number): ApprovalLevelName | undefined {
  return LEVEL_NAMES[level];
}
