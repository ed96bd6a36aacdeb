// Approval receipts (issue 27): what a signed receipt says. When a request is finally approved (by its
// quorum or by policy), one receipt binds the request, tenant, agent, skill, the SHA-256 of the
// canonical JSON of the approved payload, the approvers that counted with their levels, the decision
// time and a not-after time by which the action must start. The claims are a JWT's (`sub` the request,
// `jti` the receipt, `iat`, `exp`), so any JOSE library checks the time; the rest are ours, snake_case
// like the API. Signing and verifying live in src/lib/receipts.ts and src/lib/receipt-verify.ts.
import { countingApprovals } from "./approvals.ts";
import type { ApprovalEntry } from "./vocabulary.ts";

/** The JWS header's `typ`: a verifier refuses a token of any other type (RFC 8725 §3.11). */
export const RECEIPT_TYPE = "policy-receipt+jwt";
/** Ed25519 (RFC 8037), the one algorithm receipts are signed and verified with. */
export const RECEIPT_ALGORITHM = "EdDSA";
/** The `iss` of every receipt. */
export const RECEIPT_ISSUER = "policy-api";
/** How long after the decision the approved action may start, unless RECEIPT_TTL_SECONDS says otherwise. */
export const DEFAULT_RECEIPT_TTL_SECONDS = 900;

/** Who counted toward the approval, at which level (and for whom, under a delegation). */
export interface ReceiptApprover {
  approver_id: string;
  level: number;
  on_behalf_of?: string;
}

export interface ReceiptClaims {
  iss: string;
  /** The approval request. */
  sub: string;
  /** The receipt id (rcp_…), unique; the redeem names it. */
  jti: string;
  /** The decision time, seconds. */
  iat: number;
  /** Not after, seconds: the action must start before it. */
  exp: number;
  tenant_id: string;
  agent_id: string | null;
  skill_id: string;
  policy_type: string;
  /** Lower-case hex SHA-256 of the approved payload's canonical JSON (RFC 8785: keys sorted, no spaces). */
  payload_sha256: string;
  /** approved: by people (the approvers that counted); auto_approved: by policy (no approvers). */
  decision: "approved" | "auto_approved";
  approvers: ReceiptApprover[];
  /** The decision time, ISO 8601 with milliseconds. */
  decided_at: string;
}

/** What a receipt is issued from: the request as the approval leaves it. */
export interface ReceiptSubject {
  requestId: string;
  tenantId: string;
  agentId: string | null;
  skillId: string;
  policyType: string;
  payloadSha256: string;
  /**
   * The filed payload's hash: an approval entry that records no hash of its own approved it (issue 27).
   * Only approvals of `payloadSha256` are named.
   */
  filedPayloadSha256: string;
  requiredLevel: number;
  decision: "approved" | "auto_approved";
  approvals: readonly ApprovalEntry[];
}

/** The claims for `subject`, decided at `decidedAt`, valid `ttlSeconds`. */
export function receiptClaims(
  subject: ReceiptSubject,
  receiptId: string,
  decidedAt: Date,
  ttlSeconds: number,
): ReceiptClaims {
  const iat = Math.floor(decidedAt.getTime() / 1000);
  const approvers =
    subject.decision === "approved"
      ? countingApprovals(
          {
            requiredLevel: subject.requiredLevel,
            payloadHash: subject.filedPayloadSha256,
            approvedPayloadHash: subject.payloadSha256,
          },
          subject.approvals,
        ).map((entry) => ({
          approver_id: entry.approver_id,
          level: entry.level,
          ...(entry.on_behalf_of ? { on_behalf_of: entry.on_behalf_of } : {}),
        }))
      : [];
  return {
    iss: RECEIPT_ISSUER,
    sub: subject.requestId,
    jti: receiptId,
    iat,
    exp: iat + ttlSeconds,
    tenant_id: subject.tenantId,
    agent_id: subject.agentId,
    skill_id: subject.skillId,
    policy_type: subject.policyType,
    payload_sha256: subject.payloadSha256,
    decision: subject.decision,
    approvers,
    decided_at: decidedAt.toISOString(),
  };
}
