// The approval request state machine: pure logic, no I/O. Decides what an action does to a request;
// src/db/transitions.ts applies the result as one compare-and-swap statement.
//
//   pending ──approve (level and count reached)──▶ approved
//      │  └─approve (not yet)──▶ pending (approval_added)
//      ├──reject──▶ rejected          (any reject vetoes)
//      ├──cancel──▶ cancelled         (requester or admin)
//      ├──expire──▶ expired           (past expires_at)
//      └──escalate──▶ escalated ──(approve / reject / cancel / expire as from pending)
//   created within an auto_approve/pre_approved policy's ceilings ──▶ auto_approved
import type { ApprovalEntry } from "../db/schema.ts";
import type { ApprovalStatus } from "./vocabulary.ts";

export const OPEN_STATUSES = ["pending", "escalated"] as const satisfies readonly ApprovalStatus[];

/** For each target status, the statuses a request may be in to move there. */
export const ALLOWED_FROM: Record<ApprovalStatus, readonly ApprovalStatus[]> = {
  pending: [],
  auto_approved: [],
  escalated: ["pending"],
  approved: OPEN_STATUSES,
  rejected: OPEN_STATUSES,
  cancelled: OPEN_STATUSES,
  expired: OPEN_STATUSES,
};

export const WEBHOOK_EVENTS = {
  created: "approval_request_created",
  approvalAdded: "approval_added",
  approved: "approval_request_approved",
  rejected: "approval_request_rejected",
  escalated: "approval_request_escalated",
  expired: "approval_request_expired",
  cancelled: "approval_request_cancelled",
} as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[keyof typeof WEBHOOK_EVENTS];

export interface RequestState {
  status: ApprovalStatus;
  requiredLevel: number;
  requiredApprovals: number;
  currentLevel: number;
  approvals: ApprovalEntry[];
  expiresAt: Date;
}

export type Action =
  | { kind: "approve" | "reject"; approverId: string; level: number; notes: string | null }
  | { kind: "cancel"; actor: string; reason: string | null }
  | { kind: "expire" };

/** What an accepted action changes; `toStatus` null means the status stays (an approval was added). */
export interface Change {
  toStatus: ApprovalStatus | null;
  actor: string;
  reason: string | null;
  event: WebhookEvent;
  /** actions_total result label. */
  result: "approved" | "approval_added" | "rejected" | "cancelled" | "expired";
  approvals: ApprovalEntry[];
  currentLevel: number;
}

export type Refusal =
  | { refused: "not_open"; status: ApprovalStatus }
  | { refused: "expired" }
  | { refused: "already_approved_by_you" };

export function isOpen(status: ApprovalStatus): boolean {
  return (OPEN_STATUSES as readonly ApprovalStatus[]).includes(status);
}

/** Approved once the highest approved level reaches the required level and enough distinct approvers agreed. */
export function isSatisfied(
  state: Pick<RequestState, "requiredLevel" | "requiredApprovals">,
  approvals: ApprovalEntry[],
) {
  const approving = approvals.filter((entry) => entry.action === "approve");
  const highest = Math.max(0, ...approving.map((entry) => entry.level));
  const distinct = new Set(approving.map((entry) => entry.approver_id)).size;
  return highest >= state.requiredLevel && distinct >= state.requiredApprovals;
}

export function decide(state: RequestState, action: Action, now: Date): Change | Refusal {
  if (!isOpen(state.status)) return { refused: "not_open", status: state.status };
  const expired = now.getTime() >= state.expiresAt.getTime();
  if (action.kind === "expire") {
    if (!expired) return { refused: "not_open", status: state.status };
    return change(state, "expired", "system", "expired before a decision", WEBHOOK_EVENTS.expired, "expired");
  }
  if (expired) return { refused: "expired" };
  if (action.kind === "cancel") {
    return change(state, "cancelled", action.actor, action.reason, WEBHOOK_EVENTS.cancelled, "cancelled");
  }

  const entry: ApprovalEntry = {
    approver_id: action.approverId,
    level: action.level,
    action: action.kind,
    notes: action.notes,
    timestamp: now.toISOString(),
  };
  const approvals = [...state.approvals, entry];
  if (action.kind === "reject") {
    return {
      ...change(
        state,
        "rejected",
        action.approverId,
        action.notes ?? "rejected",
        WEBHOOK_EVENTS.rejected,
        "rejected",
      ),
      approvals,
    };
  }
  if (
    state.approvals.some((prior) => prior.action === "approve" && prior.approver_id === action.approverId)
  ) {
    return { refused: "already_approved_by_you" };
  }
  const currentLevel = Math.max(state.currentLevel, action.level);
  if (isSatisfied(state, approvals)) {
    return {
      toStatus: "approved",
      actor: action.approverId,
      reason: action.notes ?? `approved at level ${currentLevel}`,
      event: WEBHOOK_EVENTS.approved,
      result: "approved",
      approvals,
      currentLevel,
    };
  }
  return {
    toStatus: null,
    actor: action.approverId,
    reason: action.notes,
    event: WEBHOOK_EVENTS.approvalAdded,
    result: "approval_added",
    approvals,
    currentLevel,
  };
}

function change(
  state: RequestState,
  toStatus: ApprovalStatus,
  actor: string,
  reason: string | null,
  event: WebhookEvent,
  result: Change["result"],
): Change {
  return {
    toStatus,
    actor,
    reason,
    event,
    result,
    approvals: state.approvals,
    currentLevel: state.currentLevel,
  };
}
