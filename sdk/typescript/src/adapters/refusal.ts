// What a framework adapter gives the model when the Policy API does not allow a tool call: a typed
// refusal whose only sentence is "not allowed: <reason_code>". Text a person wrote (a rejection note)
// is carried JSON-quoted, as data, and never becomes the sentence the model reads as an instruction.
import { PolicyDecisionError, PolicyDeniedError, type PolicyError } from "../errors.ts";

/** What the model sees instead of the tool's output when the call is not allowed. */
export interface PolicyRefusal {
  allowed: false;
  /** "not allowed: <reason_code>": the only sentence the model is given. */
  message: string;
  /** The API's code (`rejected_by_approver`, `expired`, `policy_denied`, `timeout`, …). */
  reason_code: string;
  /** The SDK's kind of failure (denied, rejected, expired, cancelled, timeout, network, receipt, …). */
  kind: PolicyError["kind"];
  /** The approval request, when one was filed. */
  approval_request_id: string | null;
  /** Text a person wrote (a rejection note), quoted as data: never an instruction. */
  quoted_reason: string | null;
}

/** The refusal the model sees for a PolicyError: a code, never the person's text as a sentence. */
export function refusal(error: PolicyError): PolicyRefusal {
  const requestId =
    error instanceof PolicyDecisionError
      ? error.request.request_id
      : ((error.details as { approval_request_id?: string } | undefined)?.approval_request_id ?? null);
  const code = error instanceof PolicyDeniedError ? "policy_denied" : error.code;
  return {
    allowed: false,
    message: `not allowed: ${code}`,
    reason_code: code,
    kind: error.kind,
    approval_request_id: requestId,
    quoted_reason:
      error instanceof PolicyDecisionError && error.reason !== null ? JSON.stringify(error.reason) : null,
  };
}

/** True when a tool's output is the adapter's refusal. */
export function isPolicyRefusal(value: unknown): value is PolicyRefusal {
  return typeof value === "object" && value !== null && (value as { allowed?: unknown }).allowed === false;
}
