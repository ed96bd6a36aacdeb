// /api/v1/policy/requests: file, read, list, approve, reject and cancel approval requests, and
// reject every open request at once (the safe form of the runbook's mass reject). Thin: parse,
// authorize (the route's permission), call services/approval-requests.ts, shape the answer.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ApprovalRequestRow } from "../db/schema.ts";
import { APPROVAL_STATUSES, APPROVER_ACTIONS } from "../domain/vocabulary.ts";
import type { AuthenticatedEnv } from "../env.ts";
import { ApiError, validationError } from "../lib/errors.ts";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import * as requests from "../services/approval-requests.ts";
import { MAX_WAIT_SECONDS } from "../services/approval-requests.ts";
import { Identifier, LevelName, PolicyType } from "./policy-schemas.ts";

const BASE = "/api/v1/policy/requests";
const MIN_EXPIRY_SECONDS = 30;
const MAX_EXPIRY_SECONDS = 7 * 24 * 3600;
const MIN_WEBHOOK_SECRET_LENGTH = 16;

export const RequestIdParam = z.object({
  request_id: z
    .string()
    .regex(/^apr_[0-9a-f]{16}$/, "a request id is apr_ + 16 hex characters")
    .openapi({ param: { name: "request_id", in: "path" } }),
});

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
      .nullable()
      .default(null)
      .openapi({
        description: "Signs this request's webhooks (HMAC-SHA256). Stored encrypted, never returned.",
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

const CreatedSchema = z
  .object({
    request_id: z.string(),
    correlation_id: z.string(),
    status: z.enum(APPROVAL_STATUSES),
    required_level: z.number().int(),
    escalate_to: z.string().nullable(),
    expires_at: z.string(),
    created_at: z.string(),
    policy_version: z.number().int(),
  })
  .openapi("CreatedApprovalRequest");

const HistoryEntry = z.object({
  from_status: z.enum(APPROVAL_STATUSES).nullable(),
  to_status: z.enum(APPROVAL_STATUSES),
  actor: z.string(),
  reason: z.string().nullable(),
  timestamp: z.string(),
});

const Approver = z.object({
  approver_id: z.string(),
  level: z.number().int(),
  action: z.enum(APPROVER_ACTIONS),
  notes: z.string().nullable(),
  timestamp: z.string(),
});

export const RequestSchema = z
  .object({
    request_id: z.string(),
    correlation_id: z.string(),
    status: z.enum(APPROVAL_STATUSES),
    status_history: z.array(HistoryEntry),
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
    approvers: z.array(Approver),
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
  })
  .openapi("ApprovalRequest");

const DecisionBody = z
  .object({
    approver_id: Identifier.optional().openapi({
      description: "If sent, must be the API key's own principal",
    }),
    level: z
      .union([z.number().int().min(1).max(5), LevelName])
      .optional()
      .openapi({ description: "If sent, at most the key's level; defaults to the key's level" }),
    notes: z.string().max(2000).nullable().optional(),
  })
  .strict()
  .openapi("ApprovalDecision");

export const CancelBody = z
  .object({ reason: z.string().max(500).nullable().optional() })
  .strict()
  .openapi("CancelApprovalRequest");

const RejectPendingBody = z
  .object({
    reason: z.string().min(1).max(500),
    tenant_id: Identifier.optional(),
    skill_id: Identifier.optional(),
    agent_id: Identifier.optional(),
    created_before: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .openapi("RejectPending");

const ListQuery = z.object({
  status: z
    .union([z.enum(APPROVAL_STATUSES), z.array(z.enum(APPROVAL_STATUSES))])
    .optional()
    .transform((value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])),
  tenant_id: Identifier.optional(),
  skill_id: Identifier.optional(),
  agent_id: Identifier.optional(),
  requested_by: Identifier.optional(),
  created_after: z.iso.datetime({ offset: true }).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
  // A generous default: the runbook counts the backlog with `jq length`, and alerts above 100.
  limit: z.coerce.number().int().min(1).max(1000).default(500),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
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

export function toApi(row: ApprovalRequestRow): z.infer<typeof RequestSchema> {
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
  };
}

const create = protectedRoute(
  "requests:create",
  {
    method: "post",
    path: BASE,
    tags: ["requests"],
    summary: "File an approval request (Idempotency-Key makes retries safe)",
    request: {
      headers: z.object({ "idempotency-key": IdempotencyKey.optional() }),
      body: { required: true, content: { "application/json": { schema: CreateBody } } },
    },
    responses: {
      200: jsonResponse(CreatedSchema, "Filed (pending) or auto-approved; a retry replays the first answer"),
    },
  },
  {
    403: "The key's role, tenant or agent binding does not allow this, or policy denies the action (code policy_denied, nothing filed; details.reasons says why)",
    409: "Idempotency-Key reused with a different body, or policy kept changing",
  },
);

const read = protectedRoute(
  "requests:read",
  {
    method: "get",
    path: `${BASE}/{request_id}`,
    tags: ["requests"],
    summary: "Read a request with its history and approvals",
    request: { params: RequestIdParam, query: GetQuery },
    responses: { 200: jsonResponse(RequestSchema, "The request") },
  },
  { 404: "No such request (or not in your tenant)" },
);

const list = protectedRoute("requests:read", {
  method: "get",
  path: BASE,
  tags: ["requests"],
  summary: "List requests, newest first (a JSON array; deep paging through the Link header)",
  request: { query: ListQuery },
  responses: { 200: jsonResponse(z.array(RequestSchema), "Requests") },
});

const decision = (kind: "approve" | "reject") =>
  protectedRoute(
    "requests:decide",
    {
      method: "post",
      path: `${BASE}/{request_id}/${kind}`,
      tags: ["requests"],
      summary: kind === "approve" ? "Approve a request at the key's level" : "Reject a request (vetoes it)",
      request: {
        params: RequestIdParam,
        body: { required: false, content: { "application/json": { schema: DecisionBody } } },
      },
      responses: { 200: jsonResponse(RequestSchema, "The request after the decision") },
    },
    { 404: "No such request (or not in your tenant)", 409: "Already decided, or expired" },
  );

const cancel = protectedRoute(
  "requests:cancel",
  {
    method: "post",
    path: `${BASE}/{request_id}/cancel`,
    tags: ["requests"],
    summary: "Cancel a request (its requester, or an admin)",
    request: {
      params: RequestIdParam,
      body: { required: false, content: { "application/json": { schema: CancelBody } } },
    },
    responses: { 200: jsonResponse(RequestSchema, "The cancelled request") },
  },
  { 404: "No such request (or not in your tenant)", 409: "Already decided" },
);

const rejectPending = protectedRoute("emergency", {
  method: "post",
  path: `${BASE}/reject-pending`,
  tags: ["requests"],
  summary:
    "Reject every open (pending or escalated) request matching a filter, each with history and its webhook",
  request: { body: { required: true, content: { "application/json": { schema: RejectPendingBody } } } },
  responses: {
    200: jsonResponse(
      z
        .object({ rejected: z.number().int(), request_ids: z.array(z.string()) })
        .openapi("RejectPendingResult"),
      "What was rejected",
    ),
  },
});

/** The service's command for a create body (the REST route and the MCP request_approval tool). */
export function toCreateCommand(
  body: z.infer<typeof CreateBody>,
  idempotencyKey: string | null,
): requests.CreateCommand {
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

/** A body that may be absent or empty (approve, reject, cancel need none). */
async function parseOptionalBody<T extends z.ZodType>(
  c: Context<AuthenticatedEnv>,
  schema: T,
): Promise<z.infer<T>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError("malformed_json", "Request body is not valid JSON");
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error.issues, "json");
  return parsed.data;
}

async function decideRoute(c: Context<AuthenticatedEnv>, id: string, kind: "approve" | "reject") {
  const body = await parseOptionalBody(c, DecisionBody);
  const row = await requests.decideRequest(c.var.services, c.var.principal, id, kind, {
    approverId: body.approver_id,
    level: body.level,
    notes: body.notes,
  });
  return toApi(row);
}

export const requestRoutes = createRouter()
  .openapi(rejectPending, async (c) => {
    const body = c.req.valid("json");
    const rows = await requests.rejectOpenRequests(c.var.services, c.var.principal, {
      reason: body.reason,
      tenantId: body.tenant_id,
      skillId: body.skill_id,
      agentId: body.agent_id,
      createdBefore: body.created_before ? new Date(body.created_before) : undefined,
    });
    return c.json({ rejected: rows.length, request_ids: rows.map((row) => row.id) }, 200);
  })
  .openapi(create, async (c) => {
    const { created, replayed } = await requests.createRequest(
      c.var.services,
      c.var.principal,
      toCreateCommand(c.req.valid("json"), c.req.valid("header")["idempotency-key"] ?? null),
    );
    if (replayed) c.header("Idempotent-Replayed", "true");
    return c.json(created, 200);
  })
  .openapi(list, async (c) => {
    const query = c.req.valid("query");
    const { rows, nextCursor } = await requests.searchRequests(c.var.services, c.var.principal, {
      tenantId: query.tenant_id,
      statuses: query.status,
      skillId: query.skill_id,
      agentId: query.agent_id,
      requestedBy: query.requested_by,
      createdAfter: query.created_after ? new Date(query.created_after) : undefined,
      createdBefore: query.created_before ? new Date(query.created_before) : undefined,
      limit: query.limit,
      offset: query.offset,
      cursor: query.cursor,
    });
    if (nextCursor) {
      const next = new URL(c.req.url);
      next.searchParams.delete("offset");
      next.searchParams.set("cursor", nextCursor);
      c.header("Link", `<${next.pathname}${next.search}>; rel="next"`);
    }
    return c.json(rows.map(toApi), 200);
  })
  .openapi(read, async (c) => {
    const { request_id } = c.req.valid("param");
    const { wait } = c.req.valid("query");
    return c.json(toApi(await requests.getRequest(c.var.services, c.var.principal, request_id, wait)), 200);
  })
  .openapi(decision("approve"), async (c) =>
    c.json(await decideRoute(c, c.req.valid("param").request_id, "approve"), 200),
  )
  .openapi(decision("reject"), async (c) =>
    c.json(await decideRoute(c, c.req.valid("param").request_id, "reject"), 200),
  )
  .openapi(cancel, async (c) => {
    const { request_id } = c.req.valid("param");
    const body = await parseOptionalBody(c, CancelBody);
    const row = await requests.cancelRequest(
      c.var.services,
      c.var.principal,
      request_id,
      body.reason ?? null,
    );
    return c.json(toApi(row), 200);
  });
