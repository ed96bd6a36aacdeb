// How a decided request was decided, as fields an agent reads the same way on every channel (REST,
// long-poll, the event stream, MCP, webhooks; issue 27): the status, whether the action may go ahead,
// when, a closed reason code, who decided at which level, and what a person wrote, kept apart as
// `reason`. Pure: derived from the request's status, history and approver entries only. The code and
// the deciders come from the record's structure (statuses, entries, actors), never from any text.
import { decidesAtLevel } from "./access.ts";
import { type Change, candidateHash, entryPayloadHash } from "./approvals.ts";
import { canonicalIdentifier } from "./limits.ts";
import type { ApprovalEntry, ApprovalStatus, DecisionChannel, StatusHistoryEntry } from "./vocabulary.ts";

/**
 * Why a request ended as it did, one closed set (docs/API.md, "Decision outcome"):
 * - approved_by_quorum: enough approvers at or above the required level approved.
 * - auto_approved_by_policy: filed within an auto-approving policy's ceilings; no person decided.
 * - rejected_by_approver: an approver at or above the required level rejected (one veto decides).
 * - rejected_by_emergency_bulk: an admin's POST /api/v1/policy/requests/reject-pending rejected it.
 * - expired: nobody decided before expires_at.
 * - cancelled_by_requester: whoever filed it (the requester or the key that filed it) withdrew it.
 * - cancelled_by_admin: an admin withdrew it.
 */
export const REASON_CODES = [
  "approved_by_quorum",
  "auto_approved_by_policy",
  "rejected_by_approver",
  "rejected_by_emergency_bulk",
  "expired",
  "cancelled_by_requester",
  "cancelled_by_admin",
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

/** Who a decider is: a counted approver, the policy, the service's clock, the requester or an admin. */
export const DECIDER_ROLES = ["approver", "policy", "system", "requester", "admin"] as const;
export type DeciderRole = (typeof DECIDER_ROLES)[number];

export const DECIDED_STATUSES = [
  "approved",
  "auto_approved",
  "rejected",
  "expired",
  "cancelled",
] as const satisfies readonly ApprovalStatus[];
export type DecidedStatus = (typeof DECIDED_STATUSES)[number];

/** One party that decided: the same keys for every role, so an agent reads one shape. */
export interface Decider {
  role: DeciderRole;
  /** The principal (approver, requester, admin); null for the policy and the system. */
  principal_id: string | null;
  /** An approver's level; the policy's: the level the request was filed at; null otherwise. */
  level: number | null;
  /** As on the approver's entry: the principal a delegate stood in for; absent otherwise. */
  on_behalf_of?: string;
  /** As on the approver's entry: console or slack; absent for the API. */
  via?: DecisionChannel;
}

export interface DecisionOutcome {
  status: DecidedStatus;
  /** True only for approved and auto_approved. */
  may_proceed: boolean;
  decided_at: string;
  reason_code: ReasonCode;
  decided_by: Decider[];
  /** What a person wrote (the rejecter's or final approver's notes, the cancel or bulk reason): text, not a field. */
  reason: string | null;
}

/** What the outcome is read from: the request row's own fields (ApprovalRequestRow fits). */
export interface OutcomeSource {
  status: ApprovalStatus;
  statusHistoryJson: readonly StatusHistoryEntry[];
  approvalsJson: readonly ApprovalEntry[];
  requiredLevel: number;
  requiredApprovals: number;
  requestedBy: string;
  requesterPrincipalId: string | null;
  resolvedAt: Date | null;
  /** The filed payload's hash and a standing edit's (issue 27): approvals count toward the candidate only. */
  payloadHash?: string;
  approvedPayloadHash?: string | null;
}

const APPROVED: readonly ApprovalStatus[] = ["approved", "auto_approved"];

function isDecided(status: ApprovalStatus): status is DecidedStatus {
  return (DECIDED_STATUSES as readonly ApprovalStatus[]).includes(status);
}

/**
 * The approver entries that counted toward the decision, in order: approvals and rejections at or
 * above the required level, each approver once (one spelling per person), approvals up to the quorum,
 * and nothing after a veto. Notes (an approver below the level) and approvals beyond the quorum
 * decided nothing.
 */
export function countedEntries(
  source: Pick<
    OutcomeSource,
    "approvalsJson" | "requiredLevel" | "requiredApprovals" | "payloadHash" | "approvedPayloadHash"
  >,
): Set<ApprovalEntry> {
  const counted = new Set<ApprovalEntry>();
  const approvers = new Set<string>();
  const quorum = Math.max(1, source.requiredApprovals);
  const binding =
    source.payloadHash === undefined
      ? null
      : { payloadHash: source.payloadHash, approvedPayloadHash: source.approvedPayloadHash ?? null };
  for (const entry of source.approvalsJson) {
    if (entry.action === "note" || !decidesAtLevel(entry.level, source.requiredLevel)) continue;
    if (entry.action === "reject") {
      counted.add(entry);
      break;
    }
    // An approval of a payload an approver since changed (issue 27) counts for nothing.
    if (binding && entryPayloadHash(entry, binding) !== candidateHash(binding)) continue;
    const person = canonicalIdentifier(entry.approver_id);
    if (approvers.has(person) || approvers.size >= quorum) continue;
    approvers.add(person);
    counted.add(entry);
  }
  return counted;
}

function approverOf(entry: ApprovalEntry): Decider {
  return {
    role: "approver",
    principal_id: entry.approver_id,
    level: entry.level,
    ...(entry.on_behalf_of ? { on_behalf_of: entry.on_behalf_of } : {}),
    ...(entry.via ? { via: entry.via } : {}),
  };
}

function isRequester(source: OutcomeSource, actor: string): boolean {
  const same = (id: string | null) => id !== null && canonicalIdentifier(id) === canonicalIdentifier(actor);
  return same(source.requestedBy) || same(source.requesterPrincipalId);
}

/** Code, deciders and text of a decided request, from its structure. */
function why(
  source: OutcomeSource,
  status: DecidedStatus,
  last: StatusHistoryEntry | undefined,
): Pick<DecisionOutcome, "reason_code" | "decided_by" | "reason"> {
  const counted = [...countedEntries(source)];
  const actor = last?.actor ?? "";
  switch (status) {
    case "auto_approved":
      return {
        reason_code: "auto_approved_by_policy",
        decided_by: [{ role: "policy", principal_id: null, level: source.requiredLevel }],
        reason: null,
      };
    case "approved": {
      const approvals = counted.filter((entry) => entry.action === "approve");
      return {
        reason_code: "approved_by_quorum",
        decided_by: approvals.map(approverOf),
        reason: approvals.at(-1)?.notes ?? null,
      };
    }
    case "rejected": {
      const veto = counted.find((entry) => entry.action === "reject");
      // A rejection with no counted veto among the entries is the bulk reject (it writes no entry).
      if (veto)
        return { reason_code: "rejected_by_approver", decided_by: [approverOf(veto)], reason: veto.notes };
      return {
        reason_code: "rejected_by_emergency_bulk",
        decided_by: [{ role: "admin", principal_id: actor, level: null }],
        reason: last?.reason ?? null,
      };
    }
    case "expired":
      return {
        reason_code: "expired",
        decided_by: [{ role: "system", principal_id: null, level: null }],
        reason: null,
      };
    case "cancelled": {
      const requester = isRequester(source, actor);
      return {
        reason_code: requester ? "cancelled_by_requester" : "cancelled_by_admin",
        decided_by: [{ role: requester ? "requester" : "admin", principal_id: actor, level: null }],
        reason: last?.reason ?? null,
      };
    }
  }
}

/** The outcome of a decided request; undefined while it is open (pending, escalated). */
export function decisionOutcome(source: OutcomeSource): DecisionOutcome | undefined {
  const status = source.status;
  if (!isDecided(status)) return undefined;
  const last = source.statusHistoryJson.findLast((entry) => entry.to_status === status);
  return {
    status,
    may_proceed: APPROVED.includes(status),
    decided_at: source.resolvedAt?.toISOString() ?? last?.timestamp ?? "",
    ...why(source, status, last),
  };
}

/** A status change about to be written (src/db/transitions.ts): what decisionOutcome reads of it. */
export interface OutcomeChange {
  toStatus: ApprovalStatus | null;
  actor: string;
  reason: string | null;
  approvals?: ApprovalEntry[] | undefined;
  /** An edit of the payload in the same change (issue 27): the candidate and level it leaves. */
  payloadChange?: Change["payloadChange"] | undefined;
  at: Date;
}

/**
 * The outcome a transition writes, computed before the statement: from the row as read (a single
 * request's compare-and-swap changes exactly that version), or, for a filter over many rows (expiry,
 * the bulk reject), from the change alone: those outcomes name no approver, so no row's own entries
 * enter them and every row gets the same. Undefined when the change decides nothing.
 */
export function outcomeOfChange(
  before: OutcomeSource | null,
  change: OutcomeChange,
): DecisionOutcome | undefined {
  if (change.toStatus === null) return undefined;
  const base: OutcomeSource = before ?? {
    status: change.toStatus,
    statusHistoryJson: [],
    approvalsJson: [],
    requiredLevel: 0,
    requiredApprovals: 1,
    requestedBy: "",
    requesterPrincipalId: null,
    resolvedAt: null,
  };
  return decisionOutcome({
    ...base,
    status: change.toStatus,
    statusHistoryJson: [
      ...base.statusHistoryJson,
      {
        from_status: base.status,
        to_status: change.toStatus,
        actor: change.actor,
        reason: change.reason,
        timestamp: change.at.toISOString(),
      },
    ],
    approvalsJson: change.approvals ?? base.approvalsJson,
    ...(change.payloadChange
      ? {
          approvedPayloadHash: change.payloadChange.approved?.hash ?? null,
          requiredLevel: change.payloadChange.requiredLevel,
        }
      : {}),
    resolvedAt: change.at,
  });
}
