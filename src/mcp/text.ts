// What the MCP server tells an agent in words: the server instructions, and for each answer a plain
// sentence saying what to do next (act, do not act, keep waiting) before the structured content. An
// LLM reads the text first, so every undecided or refused outcome says outright not to act.

import type { z } from "@hono/zod-openapi";
import type { ApprovalRequestRow } from "../db/schema.ts";
import { isOpen } from "../domain/approvals.ts";
import { levelName } from "../domain/vocabulary.ts";
import type { EvalResponse } from "../schemas/eval.ts";
import { requestToApi } from "../schemas/requests.ts";
import type { CreatedRequest } from "../services/approval-requests.ts";

export const INSTRUCTIONS = `The Policy API decides whether you may perform an action (a "skill call") and, when a human must approve it, tracks the approval.
Before any consequential action: call evaluate_action. "allow": you may act. "deny": do not act; explain the reasons. "requires_approval": call request_approval (same skill_id, tenant_id, agent_id, payload; a new idempotency_key per action, reused on retries), then wait_for_decision until it is decided.
Only "approved" (or "auto_approved") means you may act. Rejected, expired or cancelled means you must not; an undecided request is NOT approved: keep waiting or stop.`;

export interface ToolAnswer {
  /** What the agent reads first: a plain sentence saying what to do next. */
  text: string;
  structured: Record<string, unknown>;
}

/** evaluate_action: the decision as the next step to take, with the reasons. */
export function evaluationAnswer(answer: z.infer<typeof EvalResponse>): ToolAnswer {
  const next = {
    allow: "ALLOW: you may perform the action.",
    deny: "DENY: do not perform the action.",
    requires_approval: `REQUIRES APPROVAL (level ${answer.approval_level_required} ${answer.approval_level_name}): do not act yet; call request_approval with the same skill_id, tenant_id, agent_id and payload, then wait_for_decision.`,
  }[answer.decision];
  const reasons = answer.reasons.length > 0 ? ` Reasons: ${answer.reasons.join("; ")}.` : "";
  return { text: `${next}${reasons}`, structured: answer };
}

/** request_approval: filed (wait for the decision) or auto-approved (act), first time or replayed. */
export function filedAnswer(created: CreatedRequest, replayed: boolean): ToolAnswer {
  const first = replayed ? " (a retry: this is the request filed the first time with this key)" : "";
  const text =
    created.status === "auto_approved"
      ? `APPROVED: request ${created.request_id} was auto-approved within the policy's limits${first}. You may perform the action exactly as filed.`
      : `FILED: request ${created.request_id} is ${created.status}${first}, needing approval level ${created.required_level}; approvers have until ${created.expires_at}. Do not perform the action yet: call wait_for_decision with this request_id.`;
  return { text, structured: { ...created, replayed } };
}

/** Approved means the action may go ahead; anything else decided means it must not. */
const APPROVED_STATUSES = new Set(["approved", "auto_approved"]);

/**
 * Where a request stands, for an agent: whether it may act, and why not (the last transition's
 * reason and every approver's notes), so it can explain itself or change course.
 */
function outcomeOf(row: ApprovalRequestRow) {
  const last = row.statusHistoryJson.at(-1);
  const notes = row.approvalsJson
    .filter((entry) => entry.notes)
    .map((entry) => ({ approver_id: entry.approver_id, action: entry.action, notes: entry.notes }));
  const decided = !isOpen(row.status);
  return {
    request_id: row.id,
    status: row.status,
    decided,
    may_proceed: APPROVED_STATUSES.has(row.status),
    reason: decided ? (last?.reason ?? null) : null,
    decided_by: decided ? (last?.actor ?? null) : null,
    approver_notes: notes,
    required_level: row.requiredLevel,
    required_level_name: levelName(row.requiredLevel) ?? null,
    expires_at: row.expiresAt.toISOString(),
  };
}

function outcomeText(outcome: ReturnType<typeof outcomeOf>, waited?: number): string {
  const why = [
    outcome.reason ? `Reason: ${outcome.reason}.` : "",
    ...outcome.approver_notes.map((note) => `${note.approver_id} (${note.action}) noted: "${note.notes}".`),
  ]
    .filter(Boolean)
    .join(" ");
  const id = outcome.request_id;
  switch (outcome.status) {
    case "approved":
    case "auto_approved":
      return `APPROVED: request ${id} is ${outcome.status}${outcome.decided_by ? ` (by ${outcome.decided_by})` : ""}. You may now perform the action exactly as filed (same skill and payload). ${why}`.trim();
    case "rejected":
      return `REJECTED: request ${id} was rejected${outcome.decided_by ? ` by ${outcome.decided_by}` : ""}. Do not perform the action. ${why}`.trim();
    case "expired":
      return `EXPIRED: request ${id} was not decided before its deadline (${outcome.expires_at}). Do not perform the action; file a new request only if it is still needed. ${why}`.trim();
    case "cancelled":
      return `CANCELLED: request ${id} was cancelled. Do not perform the action. ${why}`.trim();
    default:
      return `UNDECIDED: request ${id} is still ${outcome.status}${waited !== undefined ? ` after waiting ${waited} s` : ""} (needs level ${outcome.required_level} ${outcome.required_level_name ?? ""}, deadline ${outcome.expires_at}). Undecided is NOT approved: do not perform the action. Call wait_for_decision again to keep waiting, or cancel_request if you no longer need it. ${why}`.trim();
  }
}

/** wait_for_decision, get_request, cancel_request and the request resource: where the request stands. */
export function requestAnswer(row: ApprovalRequestRow, waited?: number): ToolAnswer {
  const outcome = outcomeOf(row);
  return {
    text: outcomeText(outcome, waited),
    structured: {
      ...outcome,
      ...(waited !== undefined && { waited_seconds: waited }),
      request: requestToApi(row),
    },
  };
}
