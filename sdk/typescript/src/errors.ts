// The SDK's errors: one class, PolicyError, carrying the API's error `code`, the HTTP status, message,
// details and request id, and a `kind` to switch on; a subclass per kind so `instanceof` works too.
// Text a person wrote (a rejection's reason) is a field here, never part of what the code decides on.
import type { ApprovalRequest, DecisionOutcome } from "./generated/index.ts";

export type PolicyErrorKind =
  | "api" // the API answered an error envelope (see `code`)
  | "denied" // policy denies the action (eval said deny, or filing answered policy_denied)
  | "rejected" // an approver rejected the request
  | "expired" // nobody decided before the request's expires_at
  | "cancelled" // the requester or an admin cancelled it
  | "timeout" // no decision (or no answer) within the time allowed
  | "network" // the API could not be reached, or the connection broke, after the retries
  | "receipt" // the approval's receipt did not verify: not acting on it
  | "aborted"; // the caller's AbortSignal fired

export interface PolicyErrorInit {
  kind: PolicyErrorKind;
  code: string;
  message: string;
  status?: number | undefined;
  details?: unknown;
  requestId?: string | undefined;
  cause?: unknown;
}

export class PolicyError extends Error {
  readonly kind: PolicyErrorKind;
  /** The API's error code (`policy_denied`, `rate_limited`, …), or the SDK's own for what it decided. */
  readonly code: string;
  /** HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  readonly details: unknown;
  /** The API's request id (`req_…`) of the failing call, for its logs. */
  readonly requestId: string | undefined;

  constructor(init: PolicyErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "PolicyError";
    this.kind = init.kind;
    this.code = init.code;
    this.status = init.status;
    this.details = init.details;
    this.requestId = init.requestId;
  }
}

/** Policy denies the action: `reasons` are the evaluation's. */
export class PolicyDeniedError extends PolicyError {
  readonly reasons: string[];
  constructor(init: Omit<PolicyErrorInit, "kind"> & { reasons: string[] }) {
    super({ ...init, kind: "denied" });
    this.name = "PolicyDeniedError";
    this.reasons = init.reasons;
  }
}

/** A decided request that does not allow the action: its outcome, and the request as last read. */
export class PolicyDecisionError extends PolicyError {
  readonly request: ApprovalRequest;
  readonly outcome: DecisionOutcome | undefined;
  /** Text the decider wrote (data, never an instruction); null when nobody wrote any. */
  readonly reason: string | null;
  readonly decidedBy: DecisionOutcome["decided_by"];
  constructor(kind: "rejected" | "expired" | "cancelled", request: ApprovalRequest) {
    super({
      kind,
      code: request.outcome?.reason_code ?? request.status,
      message: `request ${request.request_id} is ${request.status}: not acting`,
    });
    this.name = "PolicyDecisionError";
    this.request = request;
    this.outcome = request.outcome;
    this.reason = request.outcome?.reason ?? null;
    this.decidedBy = request.outcome?.decided_by ?? [];
  }
}

export class PolicyRejectedError extends PolicyDecisionError {
  constructor(request: ApprovalRequest) {
    super("rejected", request);
    this.name = "PolicyRejectedError";
  }
}

export class PolicyExpiredError extends PolicyDecisionError {
  constructor(request: ApprovalRequest) {
    super("expired", request);
    this.name = "PolicyExpiredError";
  }
}

export class PolicyCancelledError extends PolicyDecisionError {
  constructor(request: ApprovalRequest) {
    super("cancelled", request);
    this.name = "PolicyCancelledError";
  }
}

export class PolicyTimeoutError extends PolicyError {
  constructor(message: string, requestId?: string) {
    super({ kind: "timeout", code: "timeout", message, details: { approval_request_id: requestId } });
    this.name = "PolicyTimeoutError";
  }
}

export class PolicyNetworkError extends PolicyError {
  constructor(message: string, cause: unknown) {
    super({ kind: "network", code: "network_error", message, cause });
    this.name = "PolicyNetworkError";
  }
}

/** The receipt of an approval did not verify (`refused` says why); the action must not run. */
export class PolicyReceiptError extends PolicyError {
  readonly refused: string;
  constructor(refused: string, requestId: string) {
    super({
      kind: "receipt",
      code: `receipt_${refused}`,
      message:
        refused === "already_redeemed"
          ? `the receipt of ${requestId} was redeemed already: not acting again`
          : `the receipt of ${requestId} does not verify (${refused}): not acting`,
      details: { refused, approval_request_id: requestId },
    });
    this.name = "PolicyReceiptError";
    this.refused = refused;
  }
}
