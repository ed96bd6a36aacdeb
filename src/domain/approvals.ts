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
import { decidesAtLevel } from "./access.ts";
import {
  type Evaluation,
  type EvaluationInput,
  evaluate,
  type PolicyState,
  type SpendAssumption,
  spendAssumptions,
  type Violation,
} from "./evaluation.ts";
import { canonicalIdentifier } from "./limits.ts";
import {
  type ApprovalEntry,
  type ApprovalStatus,
  DEFAULT_POLICY,
  type DecisionChannel,
  levelName,
  WEBHOOK_EVENTS,
  type WebhookEvent,
} from "./vocabulary.ts";

export const OPEN_STATUSES = ["pending", "escalated"] as const satisfies readonly ApprovalStatus[];

/** For each target status, the statuses a request may be in to move there. */
export const ALLOWED_FROM: Record<ApprovalStatus, readonly ApprovalStatus[]> = {
  pending: [],
  auto_approved: [],
  // escalated → escalated: the next tier of an escalation chain reassigns the request.
  escalated: ["pending", "escalated"],
  approved: OPEN_STATUSES,
  rejected: OPEN_STATUSES,
  cancelled: OPEN_STATUSES,
  expired: OPEN_STATUSES,
};

export interface RequestState extends PayloadBinding {
  status: ApprovalStatus;
  requiredLevel: number;
  requiredApprovals: number;
  currentLevel: number;
  approvals: ApprovalEntry[];
  expiresAt: Date;
}

/**
 * Which payload approvals count toward (issue 27): the filed payload's hash, and an approver's edit of
 * it while one stands. The candidate is the edit, else the filed payload.
 */
export interface PayloadBinding {
  payloadHash: string;
  approvedPayloadHash: string | null;
}

/** The hash of the payload approvals now count toward: the standing edit, else the filed payload. */
export function candidateHash(binding: PayloadBinding): string {
  return binding.approvedPayloadHash ?? binding.payloadHash;
}

/** The payload an approval entry approved: its own hash when it records one, else the filed payload. */
export function entryPayloadHash(entry: ApprovalEntry, binding: PayloadBinding): string {
  return entry.payload_sha256 ?? binding.payloadHash;
}

/** An approver's edit of the payload on approve: the edited payload, its hash and the level it needs. */
export interface PayloadEdit {
  payload: unknown;
  hash: string;
  /** The level policy asks for the edited payload; the request's required level never goes below it. */
  requiredLevel: number;
  /** The edited payload's simulated cost: what the spend ledger records if it is approved. */
  costCents: number;
}

export type Action =
  | {
      kind: "approve" | "reject";
      approverId: string;
      level: number;
      notes: string | null;
      /** Recorded with the entry: the delegator the approver stands in for (its level is never used). */
      onBehalfOf?: string | null | undefined;
      /** The entry point, when not the API: the audit trail says a decision came "via slack". */
      via?: DecisionChannel | undefined;
      /** Approve only: the approver's edit of the payload, already re-evaluated (services). */
      edit?: PayloadEdit | undefined;
    }
  | { kind: "cancel"; actor: string; reason: string | null }
  | { kind: "expire" };

/** What an accepted action changes; `toStatus` null means the status stays (an approval was added). */
export interface Change {
  toStatus: ApprovalStatus | null;
  actor: string;
  reason: string | null;
  event: WebhookEvent;
  /** actions_total result label. */
  result: "approved" | "approval_added" | "note_added" | "rejected" | "cancelled" | "expired";
  approvals: ApprovalEntry[];
  currentLevel: number;
  /**
   * Set by an approve that changed the candidate payload: the edit that now stands (null: the edit went
   * back to the filed payload), the required level it leaves and the cost the ledger records.
   */
  payloadChange?: {
    approved: { payload: unknown; hash: string } | null;
    requiredLevel: number;
    costCents: number;
  };
}

export type Refusal =
  | { refused: "not_open"; status: ApprovalStatus }
  | { refused: "expired" }
  | { refused: "already_approved_by_you" }
  | { refused: "edit_below_level"; level: number; requiredLevel: number }
  | { refused: "edit_above_level"; level: number; editLevel: number };

export function isOpen(status: ApprovalStatus): boolean {
  return (OPEN_STATUSES as readonly ApprovalStatus[]).includes(status);
}

/**
 * Approved once enough distinct approvers at or above the required level agreed (M-of-N, at least
 * one): approvals below the required level are notes and count toward nothing.
 */
export function isSatisfied(
  state: Pick<RequestState, "requiredLevel" | "requiredApprovals"> & PayloadBinding,
  approvals: ApprovalEntry[],
) {
  return countedApprovers(state, approvals) >= Math.max(1, state.requiredApprovals);
}

/**
 * The approvals that count toward the quorum: approves at the required level of the candidate payload
 * (an approval of a payload since edited counts for nothing), the first per person.
 */
export function countingApprovals(
  state: Pick<RequestState, "requiredLevel"> & PayloadBinding,
  approvals: readonly ApprovalEntry[],
): ApprovalEntry[] {
  // One person per folded principal (docs/SECURITY.md, "Identifiers have one spelling"): a key written
  // `Alice` before the fold and one written `alice` after it are one approver, never two.
  const seen = new Set<string>();
  const candidate = candidateHash(state);
  return approvals.filter((entry) => {
    if (entry.action !== "approve" || !decidesAtLevel(entry.level, state.requiredLevel)) return false;
    if (entryPayloadHash(entry, state) !== candidate) return false;
    const person = canonicalIdentifier(entry.approver_id);
    if (seen.has(person)) return false;
    seen.add(person);
    return true;
  });
}

function countedApprovers(
  state: Pick<RequestState, "requiredLevel"> & PayloadBinding,
  approvals: ApprovalEntry[],
): number {
  return countingApprovals(state, approvals).length;
}

/**
 * What an approver's accepted approve or reject did, read from the request it returned (whose newest
 * entry of theirs is the one just added): it decided the request, counted toward an M-of-N approval,
 * or, below the required level, was kept as a note and counted for nothing.
 */
export type ActionEffect =
  | { effect: "decided"; status: ApprovalStatus }
  | { effect: "counted"; approvals: number; needed: number; status: ApprovalStatus }
  | { effect: "noted"; level: number; requiredLevel: number; status: ApprovalStatus };

export function actionEffect(
  state: Pick<RequestState, "status" | "requiredLevel" | "requiredApprovals" | "approvals"> & PayloadBinding,
  approverId: string,
): ActionEffect {
  if (!isOpen(state.status)) return { effect: "decided", status: state.status };
  const mine = state.approvals.findLast((entry) => entry.approver_id === approverId);
  if (mine?.action === "note") {
    return { effect: "noted", level: mine.level, requiredLevel: state.requiredLevel, status: state.status };
  }
  return {
    effect: "counted",
    approvals: countedApprovers(state, state.approvals),
    needed: Math.max(1, state.requiredApprovals),
    status: state.status,
  };
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

  // An edit that changes nothing (canonically the candidate already) is a plain approve.
  const edit =
    action.kind === "approve" && action.edit && action.edit.hash !== candidateHash(state)
      ? action.edit
      : null;
  if (edit) {
    // Whoever edits must decide at the request's level (a note cannot move the payload under the others)
    // and at the level policy asks for the edited payload.
    if (!decidesAtLevel(action.level, state.requiredLevel)) {
      return { refused: "edit_below_level", level: action.level, requiredLevel: state.requiredLevel };
    }
    if (!decidesAtLevel(action.level, edit.requiredLevel)) {
      return { refused: "edit_above_level", level: action.level, editLevel: edit.requiredLevel };
    }
  }
  // The request never needs less than it was filed with; an edit needing more raises it.
  const requiredLevel = edit ? Math.max(state.requiredLevel, edit.requiredLevel) : state.requiredLevel;
  const binding: PayloadBinding = edit
    ? {
        payloadHash: state.payloadHash,
        approvedPayloadHash: edit.hash === state.payloadHash ? null : edit.hash,
      }
    : state;
  const approvedHash = candidateHash(binding);
  // An approve records the hash it approved when it edits or while an edit stands; an unedited
  // request's entries keep M5's exact keys.
  const bindsHash = action.kind === "approve" && (edit !== null || state.approvedPayloadHash !== null);
  const entry: ApprovalEntry = {
    approver_id: action.approverId,
    level: action.level,
    action: action.kind,
    notes: action.notes,
    timestamp: now.toISOString(),
    ...(action.onBehalfOf ? { on_behalf_of: action.onBehalfOf } : {}),
    ...(action.via ? { via: action.via } : {}),
    ...(bindsHash ? { payload_sha256: approvedHash } : {}),
  };
  // Below the required level an approver decides nothing: neither approval nor veto counts, but what
  // they said is kept on the request as a note.
  if (!decidesAtLevel(action.level, state.requiredLevel)) {
    return {
      toStatus: null,
      actor: action.approverId,
      reason: action.notes,
      event: WEBHOOK_EVENTS.noteAdded,
      result: "note_added",
      approvals: [...state.approvals, { ...entry, action: "note" }],
      currentLevel: state.currentLevel,
    };
  }
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
  // Refused only when this person already approved the payload this approve is for: an approval of a
  // payload since edited counts for nothing, so its approver may approve the new one.
  if (
    state.approvals.some(
      (prior) =>
        prior.action === "approve" &&
        entryPayloadHash(prior, state) === approvedHash &&
        canonicalIdentifier(prior.approver_id) === canonicalIdentifier(action.approverId),
    )
  ) {
    return { refused: "already_approved_by_you" };
  }
  const currentLevel = Math.max(state.currentLevel, action.level);
  const payloadChange = edit
    ? {
        payloadChange: {
          approved: binding.approvedPayloadHash === null ? null : { payload: edit.payload, hash: edit.hash },
          requiredLevel,
          costCents: edit.costCents,
        },
      }
    : {};
  if (isSatisfied({ ...binding, requiredLevel, requiredApprovals: state.requiredApprovals }, approvals)) {
    return {
      toStatus: "approved",
      actor: action.approverId,
      reason: action.notes ?? `approved at level ${currentLevel}`,
      event: WEBHOOK_EVENTS.approved,
      result: "approved",
      approvals,
      currentLevel,
      ...payloadChange,
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
    ...payloadChange,
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

/** How a new request starts, from the same evaluation POST /policy/eval answers with. */
export interface RequestPlan {
  status: "pending" | "auto_approved";
  requiredLevel: number;
  requiredApprovals: number;
  escalateTo: string | null;
  escalationTimeoutSeconds: number;
  /** The tiers the escalation job walks, frozen onto the request (policy_snapshot.escalation_chain). */
  escalationChain: { escalate_to: string | null; after_seconds: number }[];
  costCents: number;
  tokens: number;
  /** Why it starts so: the first history entry's reason. */
  reason: string;
  /** The policy as judged, frozen onto the request. */
  snapshot: Record<string, unknown>;
  evaluation: Evaluation;
  /** The budget outcomes the plan rests on; the insert goes ahead only while they still hold. */
  spendAssumptions: SpendAssumption[];
}

/** Policy denies the action: no request is filed. */
export interface PlanRefusal {
  refused: "denied";
  reasons: string[];
  violations: Violation[];
  evaluation: Evaluation;
}

/**
 * Judges the call exactly as an evaluation does (capability rules, budgets, ceilings, levels, with
 * cost simulated): deny refuses it, allow auto-approves it at the policy's own level, and
 * requires_approval waits for the level the evaluation asked for, so a filed request never needs less
 * than eval said.
 */
export function planRequest(
  call: Omit<EvaluationInput, "simulateCost">,
  policy: PolicyState & { version: number; readAt?: string },
): RequestPlan | PlanRefusal {
  const evaluation = evaluate({ ...call, simulateCost: true }, policy);
  if (evaluation.decision === "deny") {
    return { refused: "denied", reasons: evaluation.reasons, violations: evaluation.violations, evaluation };
  }
  const matched = evaluation.policy;
  const autoApproved = evaluation.decision === "allow";
  const level = evaluation.approvalLevelRequired;
  const costCents = evaluation.simulatedCostCents;
  const tokens = evaluation.tokens;
  const ceilings = {
    cost: matched?.autoApproveMaxCostCents ?? DEFAULT_POLICY.autoApproveMaxCostCents,
    tokens: matched?.autoApproveMaxTokens ?? DEFAULT_POLICY.autoApproveMaxTokens,
  };
  const escalateTo = matched?.escalateTo ?? null;
  const escalationTimeoutSeconds =
    matched?.escalationTimeoutSeconds ?? DEFAULT_POLICY.escalationTimeoutSeconds;
  const configured = matched?.escalationChain ?? [];
  const escalationChain = configured.length
    ? configured
    : [{ escalate_to: escalateTo, after_seconds: escalationTimeoutSeconds }];
  return {
    status: autoApproved ? "auto_approved" : "pending",
    requiredLevel: level,
    requiredApprovals: matched?.requiredApprovals ?? 1,
    escalateTo: escalateTo ?? configured[0]?.escalate_to ?? null,
    escalationTimeoutSeconds,
    escalationChain,
    costCents,
    tokens,
    reason: autoApproved
      ? `auto-approved: ${levelName(level)} policy, ${costCents} cents and ${tokens} tokens within its ceilings`
      : "created",
    snapshot: {
      policy_version: policy.version,
      policy_id: matched?.id ?? null,
      approval_level: matched?.approvalLevel ?? DEFAULT_POLICY.approvalLevel,
      auto_approve_max_cost_cents: ceilings.cost,
      auto_approve_max_tokens: ceilings.tokens,
      tokens,
      decision: evaluation.decision,
      reasons: evaluation.reasons,
      checks: evaluation.checks,
      // The spend figures in the checks are as of this read (a cached read is re-checked at insert).
      spend_as_of: policy.readAt ?? null,
      escalation_chain: escalationChain,
    },
    evaluation,
    spendAssumptions: spendAssumptions({ ...call, simulateCost: true }, policy, costCents),
  };
}
