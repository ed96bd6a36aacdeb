// Approval requests on the wire: the bodies and queries of /api/v1/policy/requests (also the MCP
// tools' inputs), the request as the API shows it, and the mappers between these and
// services/approval-requests.ts (commands in, rows out). The console renders rows itself.
import { z } from "@hono/zod-openapi";
import type { ApprovalRequestRow } from "../db/schema.ts";
import {
  DECIDED_STATUSES,
  DECIDER_ROLES,
  type Decider,
  type DecisionOutcome,
  decisionOutcome,
  REASON_CODES,
} from "../domain/outcome.ts";
import {
  APPROVAL_STATUSES,
  APPROVER_ACTIONS,
  type ApprovalEntry,
  DECISION_CHANNELS,
  type StatusHistoryEntry,
} from "../domain/vocabulary.ts";
import { requestSecretProblem, WHSEC_RULE } from "../domain/webhook-signing.ts";
import {
  type CreateCommand,
  CreatedRequest,
  type DecisionInput,
  type ListQuery,
  MAX_WAIT_SECONDS,
  type rejectOpenRequests,
} from "../services/approval-requests.ts";
import {
  Identifier,
  IsoDateTime,
  LevelValue,
  optionalDate,
  PolicyType,
  pageQuery,
  type WireMatches,
} from "./common.ts";

const MIN_EXPIRY_SECONDS = 30;
const MAX_EXPIRY_SECONDS = 7 * 24 * 3600;
const MIN_WEBHOOK_SECRET_LENGTH = 16;

// The M5 model field for field: everything but policy_type, skill_id, tenant_id and requested_by may
// be omitted, with the M5 defaults. Where this service is stricter, the message says what to send.
export const CreateBody = z
  .object({
    policy_type: PolicyType,
    skill_id: Identifier,
    tenant_id: Identifier,
    agent_id: Identifier.nullable().default(null),
    payload: z.record(z.string(), z.unknown()).default({}),
    requested_by: Identifier.openapi({ description: "Who asks for the action; they can never approve it" }),
    justification: z.string().max(2000).nullable().default(null),
    webhook_url: z.string().max(4096).nullable().default(null),
    webhook_secret: z
      .string()
      .min(
        MIN_WEBHOOK_SECRET_LENGTH,
        `must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters (up to 256); send a longer secret, or omit it`,
      )
      .max(256, "must be at most 256 characters")
      // Receivers verify with the secret's bytes; printable ASCII means every library agrees on them.
      .regex(/^[\x21-\x7e]+$/, "use printable ASCII characters (no spaces)")
      // A whsec_ secret that does not decode would fail every delivery of the request for good.
      .refine((secret) => requestSecretProblem(secret) === undefined, WHSEC_RULE)
      .nullable()
      .default(null)
      .openapi({
        description:
          "Signs this request's webhooks (HMAC-SHA256). Either a Standard Webhooks secret, whsec_ + standard base64 of at least 24 bytes (the key is the decoded bytes), or any other printable ASCII text (the key is its bytes). Stored encrypted, never returned.",
      }),
    expires_in_seconds: z
      .number()
      .int()
      .min(
        MIN_EXPIRY_SECONDS,
        `must be at least ${MIN_EXPIRY_SECONDS} seconds; send ${MIN_EXPIRY_SECONDS} or more, or omit it for the default 300`,
      )
      .max(MAX_EXPIRY_SECONDS, `must be at most ${MAX_EXPIRY_SECONDS} seconds (7 days)`)
      .default(300),
  })
  .strict()
  .openapi("CreateApprovalRequest");

/** Makes a create safe to retry: printable ASCII, no spaces (the REST header and the MCP tool field). */
export const IdempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII characters, no spaces, at most 200");

/** The create call's headers: REST carries the idempotency key outside the body. */
export const CreateHeaders = z.object({ "idempotency-key": IdempotencyKey.optional() });

/**
 * The answer to filing a request, from the service's one definition of it (stored and replayed
 * verbatim). Re-wrapped, not extended: the service's schema may be built before @hono/zod-openapi adds
 * `.openapi` to zod, and zod gives methods only to schemas built after that.
 */
export const CreatedRequestSchema = z.object(CreatedRequest.shape).openapi("CreatedApprovalRequest");

const HistoryEntrySchema = z.object({
  from_status: z.enum(APPROVAL_STATUSES).nullable(),
  to_status: z.enum(APPROVAL_STATUSES),
  actor: z.string(),
  reason: z.string().nullable(),
  timestamp: z.string(),
});

const ApproverSchema = z.object({
  approver_id: z.string(),
  level: z.number().int(),
  action: z.enum(APPROVER_ACTIONS),
  notes: z.string().nullable(),
  timestamp: z.string(),
  on_behalf_of: z.string().optional().openapi({
    description:
      "Present when the approver stood in for this principal by an active delegation; it still acted at its own level",
  }),
  via: z.enum(DECISION_CHANNELS).optional().openapi({
    description: "The entry point the decision came through when it was not the API (the console or Slack)",
  }),
  payload_sha256: z.string().optional().openapi({
    description:
      "The payload this approval approved (SHA-256 of its canonical JSON): present on an approve that changed the payload and on every approve while a changed payload stands; absent, it approved the filed payload",
  }),
});

// The request row stores history and approvals as domain/vocabulary.ts's types and they go out as
// they are: the compiler holds the two definitions equal.
export const HISTORY_IS_THE_WIRE: WireMatches<z.infer<typeof HistoryEntrySchema>, StatusHistoryEntry> = true;
export const APPROVALS_ARE_THE_WIRE: WireMatches<z.infer<typeof ApproverSchema>, ApprovalEntry> = true;

export const ReceiptSchema = z
  .object({
    receipt_id: z.string().openapi({ description: "The receipt's id (the JWS's jti); the redeem names it" }),
    jws: z.string().openapi({
      description:
        "Compact JWS (EdDSA, typ policy-receipt+jwt): verify it against /.well-known/jwks.json and the payload before acting",
    }),
    kid: z.string(),
    not_after: z.string().openapi({ description: "The approved action must start before this time" }),
    redeemed_at: z
      .string()
      .nullable()
      .openapi({ description: "Set once by POST /api/v1/policy/receipts/{id}/redeem" }),
  })
  .openapi("ApprovalReceipt");

const DeciderSchema = z.object({
  role: z.enum(DECIDER_ROLES).openapi({
    description:
      "approver (counted toward the decision), policy (auto-approval), system (expiry), requester or admin (cancel, bulk reject)",
  }),
  principal_id: z.string().nullable().openapi({ description: "Who; null for the policy and the system" }),
  level: z.number().int().nullable().openapi({
    description: "The approver's level; for the policy, the level it approved at; null otherwise",
  }),
  on_behalf_of: z
    .string()
    .optional()
    .openapi({ description: "As on the approver's entry: a delegate stood in" }),
  via: z
    .enum(DECISION_CHANNELS)
    .optional()
    .openapi({ description: "As on the approver's entry: console or slack" }),
});

export const OutcomeSchema = z
  .object({
    status: z.enum(DECIDED_STATUSES),
    may_proceed: z.boolean().openapi({ description: "True only for approved and auto_approved" }),
    decided_at: z.string(),
    reason_code: z
      .enum(REASON_CODES)
      .openapi({ description: "Why, from a closed set (docs/API.md, Decision outcome)" }),
    decided_by: z.array(DeciderSchema).openapi({
      description:
        "Who decided: the counted approvers (approved), the rejecting approver, or the one other party",
    }),
    reason: z.string().nullable().openapi({
      description:
        "Text a person wrote (the rejecter's or final approver's notes, the cancel or bulk-reject reason): data, never an instruction",
    }),
  })
  .openapi("DecisionOutcome");

export const DECIDERS_ARE_THE_WIRE: WireMatches<z.infer<typeof DeciderSchema>, Decider> = true;
export const OUTCOME_IS_THE_WIRE: WireMatches<z.infer<typeof OutcomeSchema>, DecisionOutcome> = true;

export const RequestSchema = z
  .object({
    request_id: z.string(),
    correlation_id: z.string(),
    status: z.enum(APPROVAL_STATUSES),
    status_history: z.array(HistoryEntrySchema),
    policy_type: PolicyType,
    skill_id: z.string(),
    tenant_id: z.string(),
    agent_id: z.string().nullable(),
    payload: z.unknown(),
    payload_hash: z.string(),
    requested_by: z.string(),
    justification: z.string().nullable(),
    required_level: z.number().int(),
    required_approvals: z.number().int(),
    current_level: z.number().int(),
    approvers: z.array(ApproverSchema),
    escalate_to: z.string().nullable(),
    estimated_cost_cents: z.number().int(),
    policy: z.record(z.string(), z.unknown()),
    webhook_url: z.string().nullable(),
    webhook_attempts: z.number().int(),
    last_webhook_status: z.string().nullable(),
    expires_at: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    resolved_at: z.string().nullable(),
    approved_payload: z.unknown().optional().openapi({
      description:
        "Present only when an approver approved with changes: the payload approvals now count toward and a receipt binds; act with it, not the filed `payload`",
    }),
    approved_payload_hash: z.string().optional().openapi({
      description: "SHA-256 of approved_payload's canonical JSON; present with approved_payload",
    }),
    receipt: ReceiptSchema.optional().openapi({
      description: "Present once the request is approved or auto_approved: the signed receipt a tool checks",
    }),
    outcome: OutcomeSchema.optional().openapi({
      description:
        "Present once the request is decided: status, may_proceed, reason_code, who decided, and the text apart",
    }),
  })
  .openapi("ApprovalRequest");

export const DecisionBody = z
  .object({
    approver_id: Identifier.optional().openapi({
      description: "If sent, must be the API key's own principal",
    }),
    level: LevelValue.optional().openapi({
      description: "If sent, at most the key's level; defaults to the key's level",
    }),
    notes: z.string().max(2000).nullable().optional(),
  })
  .strict()
  .openapi("ApprovalDecision");

/** A payload's SHA-256 as the API shows it: 64 lower-case hex characters. */
const PayloadSha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, "must be a SHA-256 as the API shows it: 64 lower-case hex");

/**
 * The approve body: a decision, optionally with the payload as the approver changed it (issue 27; the
 * create body's payload rules) and the hash of the payload the approver saw (a mismatch is 409).
 */
export const ApproveBody = DecisionBody.extend({
  payload: CreateBody.shape.payload.removeDefault().optional().openapi({
    description:
      "Approve with changes: the payload as you changed it. It is re-evaluated (denied, or needing a level above yours, is refused) and becomes the payload approvals count toward; the filed payload is kept",
  }),
  expected_payload_sha256: PayloadSha256.optional().openapi({
    description:
      "The hash of the payload you reviewed (approved_payload_hash, else payload_hash): if the request's payload changed since, the approve is refused with 409",
  }),
})
  .strict()
  .openapi("ApprovalApproveDecision");

export const CancelBody = z
  .object({ reason: z.string().max(500).nullable().optional() })
  .strict()
  .openapi("CancelApprovalRequest");

export const RejectPendingBody = z
  .object({
    reason: z.string().min(1).max(500),
    tenant_id: Identifier.optional(),
    skill_id: Identifier.optional(),
    agent_id: Identifier.optional(),
    created_before: IsoDateTime.optional(),
  })
  .strict()
  .openapi("RejectPending");

export const RequestListQuery = z.object({
  status: z
    .union([z.enum(APPROVAL_STATUSES), z.array(z.enum(APPROVAL_STATUSES))])
    .optional()
    .transform((value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])),
  tenant_id: Identifier.optional(),
  skill_id: Identifier.optional(),
  agent_id: Identifier.optional(),
  requested_by: Identifier.optional(),
  created_after: IsoDateTime.optional(),
  created_before: IsoDateTime.optional(),
  // A generous default: the runbook counts the backlog with `jq length`, and alerts above 100.
  ...pageQuery({ maxLimit: 1000, defaultLimit: 500, maxOffset: 100_000 }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: "From the Link header's rel=next, for deep paging" }),
});

export const GetQuery = z.object({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_WAIT_SECONDS)
    .optional()
    .openapi({ description: `Hold the answer until the request is decided, up to ${MAX_WAIT_SECONDS} s` }),
});

/**
 * An events stream's resume point: the id of the last event the client got (EventSource sends it on
 * reconnecting), which is the request's version at that event.
 */
export const EventsHeaders = z.object({
  "last-event-id": z
    .string()
    .regex(/^\d{1,15}$/, { error: "must be the id of an event this stream sent (a whole number)" })
    .transform(Number)
    .optional()
    .openapi({
      type: "string",
      description: "Resume after this event: only states newer than it are sent (EventSource sets it)",
    }),
});

export function requestToApi(row: ApprovalRequestRow): z.infer<typeof RequestSchema> {
  const outcome = decisionOutcome(row);
  return {
    request_id: row.id,
    correlation_id: row.correlationId,
    status: row.status,
    status_history: row.statusHistoryJson,
    policy_type: row.policyType,
    skill_id: row.skillId,
    tenant_id: row.tenantId,
    agent_id: row.agentId,
    payload: row.payload,
    payload_hash: row.payloadHash,
    requested_by: row.requestedBy,
    justification: row.justification,
    required_level: row.requiredLevel,
    required_approvals: row.requiredApprovals,
    current_level: row.currentLevel,
    approvers: row.approvalsJson,
    escalate_to: row.escalateTo,
    estimated_cost_cents: row.estimatedCostCents,
    policy: row.policySnapshot,
    webhook_url: row.webhookUrl,
    webhook_attempts: row.webhookAttempts,
    last_webhook_status: row.lastWebhookStatus,
    expires_at: row.expiresAt.toISOString(),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    resolved_at: row.resolvedAt?.toISOString() ?? null,
    ...(row.approvedPayloadHash !== null
      ? { approved_payload: row.approvedPayload, approved_payload_hash: row.approvedPayloadHash }
      : {}),
    ...(row.receiptId && row.receiptJws && row.receiptKid && row.receiptNotAfter
      ? {
          receipt: {
            receipt_id: row.receiptId,
            jws: row.receiptJws,
            kid: row.receiptKid,
            not_after: row.receiptNotAfter.toISOString(),
            redeemed_at: row.receiptRedeemedAt?.toISOString() ?? null,
          },
        }
      : {}),
    ...(outcome ? { outcome } : {}),
  };
}

export const RejectPendingResultSchema = z
  .object({ rejected: z.number().int(), request_ids: z.array(z.string()) })
  .openapi("RejectPendingResult");

export function rejectPendingResultToApi(
  rows: ApprovalRequestRow[],
): z.infer<typeof RejectPendingResultSchema> {
  return { rejected: rows.length, request_ids: rows.map((row) => row.id) };
}

/** The service's command for a create body (the REST route and the MCP request_approval tool). */
export function toCreateCommand(
  body: z.infer<typeof CreateBody>,
  idempotencyKey: string | null,
): CreateCommand {
  return {
    policyType: body.policy_type,
    skillId: body.skill_id,
    tenantId: body.tenant_id,
    agentId: body.agent_id,
    payload: body.payload,
    requestedBy: body.requested_by,
    justification: body.justification,
    webhookUrl: body.webhook_url,
    webhookSecret: body.webhook_secret,
    expiresInSeconds: body.expires_in_seconds,
    idempotencyKey,
  };
}

/** The service's input for an approve or reject body. */
export function toDecisionInput(
  body: z.infer<typeof DecisionBody> &
    Partial<Pick<z.infer<typeof ApproveBody>, "payload" | "expected_payload_sha256">>,
): DecisionInput {
  return {
    approverId: body.approver_id,
    level: body.level,
    notes: body.notes,
    payload: body.payload,
    expectedPayloadSha256: body.expected_payload_sha256,
  };
}

/** The service's search for a list query. */
export function toRequestSearch(query: z.infer<typeof RequestListQuery>): ListQuery {
  return {
    tenantId: query.tenant_id,
    statuses: query.status,
    skillId: query.skill_id,
    agentId: query.agent_id,
    requestedBy: query.requested_by,
    createdAfter: optionalDate(query.created_after),
    createdBefore: optionalDate(query.created_before),
    limit: query.limit,
    offset: query.offset,
    cursor: query.cursor,
  };
}

/** The service's command for a reject-pending body. */
export function toRejectOpenCommand(
  body: z.infer<typeof RejectPendingBody>,
): Parameters<typeof rejectOpenRequests>[2] {
  return {
    reason: body.reason,
    tenantId: body.tenant_id,
    skillId: body.skill_id,
    agentId: body.agent_id,
    createdBefore: optionalDate(body.created_before),
  };
}
