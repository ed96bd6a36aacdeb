// /api/v1/policy/requests: file, read, list, approve, reject and cancel approval requests, and
// reject every pending request at once (the safe form of the runbook's mass reject). Every status
// change goes through src/db/transitions.ts; the state machine is src/domain/approvals.ts.
import { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, inArray, lt, or, type SQL, sql } from "drizzle-orm";
import type { Context } from "hono";
import {
  canonicalJson,
  createPolicyFor,
  insertRequest,
  loadRequest,
  newRequestId,
} from "../db/approval-requests.ts";
import { createDb, type Database } from "../db/client.ts";
import { type ApprovalRequestRow, approvalRequests } from "../db/schema.ts";
import { applyTransition } from "../db/transitions.ts";
import { approvalIdentity, can, inTenantScope, isSelfApproval, type Principal } from "../domain/access.ts";
import { sha256Hex } from "../domain/api-keys.ts";
import {
  type Action,
  decide,
  isOpen,
  OPEN_STATUSES,
  planRequest,
  WEBHOOK_EVENTS,
} from "../domain/approvals.ts";
import { APPROVAL_STATUSES, type ApprovalStatus } from "../domain/vocabulary.ts";
import { webhookUrlProblem } from "../domain/webhook-url.ts";
import type { AppEnv } from "../env.ts";
import { protectedRoute } from "../lib/auth.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import { createRouter, describeIssues, errorResponse, jsonResponse } from "../lib/openapi.ts";
import { encryptSecret, importEncryptionKey, SECRET_FORMAT_VERSION } from "../lib/secrets.ts";
import { MAX_PAYLOAD_BYTES } from "./eval.ts";
import { Identifier, LevelName, PolicyType } from "./policy-schemas.ts";

const BASE = "/api/v1/policy/requests";
/** Longest a GET may wait for a decision (?wait=N), under the Workers request limits. */
export const MAX_WAIT_SECONDS = 55;
const WAIT_POLL_MS = 1000;
/** A compare-and-swap that loses retries this often (re-reading each time) before giving up with 409. */
const MAX_CAS_ATTEMPTS = 5;

const RequestIdParam = z.object({
  request_id: z
    .string()
    .regex(/^apr_[0-9a-f]{16}$/, "a request id is apr_ + 16 hex characters")
    .openapi({ param: { name: "request_id", in: "path" } }),
});

const CreateBody = z
  .object({
    policy_type: PolicyType,
    skill_id: Identifier,
    tenant_id: Identifier,
    agent_id: Identifier.nullable().optional(),
    payload: z.record(z.string(), z.unknown()).default({}),
    requested_by: Identifier.openapi({ description: "Who asks for the action; they can never approve it" }),
    justification: z.string().max(2000).nullable().optional(),
    webhook_url: z.string().max(4096).nullable().optional(),
    webhook_secret: z.string().min(16).max(256).nullable().optional().openapi({
      description: "Signs this request's webhooks (HMAC-SHA256). Stored encrypted, never returned.",
    }),
    expires_in_seconds: z
      .number()
      .int()
      .min(30)
      .max(7 * 24 * 3600)
      .default(300),
  })
  .strict()
  .openapi("CreateApprovalRequest");

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
  from_status: z.string().nullable(),
  to_status: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
  timestamp: z.string(),
});

const Approver = z.object({
  approver_id: z.string(),
  level: z.number().int(),
  action: z.enum(["approve", "reject"]),
  notes: z.string().nullable(),
  timestamp: z.string(),
});

const RequestSchema = z
  .object({
    request_id: z.string(),
    correlation_id: z.string(),
    status: z.enum(APPROVAL_STATUSES),
    status_history: z.array(HistoryEntry),
    policy_type: z.string(),
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

const CancelBody = z
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

const GetQuery = z.object({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_WAIT_SECONDS)
    .optional()
    .openapi({ description: `Hold the answer until the request is decided, up to ${MAX_WAIT_SECONDS} s` }),
});

function toApi(row: ApprovalRequestRow): z.infer<typeof RequestSchema> {
  return {
    request_id: row.id,
    correlation_id: row.correlationId,
    status: row.status as ApprovalStatus,
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

/** A request the key may see, or 404: another tenant's request is not admitted to exist. */
async function visibleRequest(db: Database, principal: Principal, id: string): Promise<ApprovalRequestRow> {
  const row = await loadRequest(db, id);
  if (!row || !inTenantScope(principal, row.tenantId))
    throw new ApiError("not_found", `No approval request ${id}`);
  return row;
}

const create = protectedRoute("requests:create", {
  method: "post",
  path: BASE,
  tags: ["requests"],
  summary: "File an approval request (Idempotency-Key makes retries safe)",
  request: {
    headers: z.object({
      "idempotency-key": z
        .string()
        .min(1)
        .max(200)
        .regex(/^[\x21-\x7e]+$/)
        .optional(),
    }),
    body: { required: true, content: { "application/json": { schema: CreateBody } } },
  },
  responses: {
    200: jsonResponse(CreatedSchema, "Filed (pending) or auto-approved; a retry replays the first answer"),
    400: errorResponse("Invalid body"),
    409: errorResponse("Idempotency-Key reused with a different body"),
  },
});

const read = protectedRoute("requests:read", {
  method: "get",
  path: `${BASE}/{request_id}`,
  tags: ["requests"],
  summary: "Read a request with its history and approvals",
  request: { params: RequestIdParam, query: GetQuery },
  responses: { 200: jsonResponse(RequestSchema, "The request"), 404: errorResponse("No such request") },
});

const list = protectedRoute("requests:read", {
  method: "get",
  path: BASE,
  tags: ["requests"],
  summary: "List requests, newest first (a JSON array; deep paging through the Link header)",
  request: { query: ListQuery },
  responses: { 200: jsonResponse(z.array(RequestSchema), "Requests") },
});

const decision = (kind: "approve" | "reject") =>
  protectedRoute("requests:decide", {
    method: "post",
    path: `${BASE}/{request_id}/${kind}`,
    tags: ["requests"],
    summary: kind === "approve" ? "Approve a request at the key's level" : "Reject a request (vetoes it)",
    request: {
      params: RequestIdParam,
      body: { required: false, content: { "application/json": { schema: DecisionBody } } },
    },
    responses: {
      200: jsonResponse(RequestSchema, "The request after the decision"),
      403: errorResponse("Own request, body approver_id/level beyond the key, or outside its tenant"),
      404: errorResponse("No such request"),
      409: errorResponse("Already decided, or expired"),
    },
  });

const cancel = protectedRoute("requests:cancel", {
  method: "post",
  path: `${BASE}/{request_id}/cancel`,
  tags: ["requests"],
  summary: "Cancel a request (its requester, or an admin)",
  request: {
    params: RequestIdParam,
    body: { required: false, content: { "application/json": { schema: CancelBody } } },
  },
  responses: {
    200: jsonResponse(RequestSchema, "The cancelled request"),
    404: errorResponse("No such request"),
    409: errorResponse("Already decided"),
  },
});

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

function refusalError(refusal: Exclude<ReturnType<typeof decide>, { event: string }>): ApiError {
  if (refusal.refused === "not_open") {
    return new ApiError("conflict", `The request is already ${refusal.status}`, { status: refusal.status });
  }
  if (refusal.refused === "expired") {
    return new ApiError("conflict", "The request expired before this decision", { status: "expired" });
  }
  return new ApiError("conflict", "You have already approved this request");
}

/**
 * Reads, decides, writes with a compare-and-swap on `version`; on a lost race, re-reads and decides
 * again. Two round trips when uncontended. An action on an expired request expires it and refuses.
 */
async function act(
  c: Context<AppEnv>,
  id: string,
  action: Action,
  authorize: (row: ApprovalRequestRow) => void,
): Promise<ApprovalRequestRow> {
  const db = createDb(c.env);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const row = await visibleRequest(db, c.var.principal, id);
    authorize(row);
    const now = new Date();
    const state = {
      status: row.status as ApprovalStatus,
      requiredLevel: row.requiredLevel,
      requiredApprovals: row.requiredApprovals,
      currentLevel: row.currentLevel,
      approvals: row.approvalsJson,
      expiresAt: row.expiresAt,
    };
    const outcome = decide(state, action, now);
    const where = and(eq(approvalRequests.id, id), eq(approvalRequests.version, row.version)) as SQL;
    if ("refused" in outcome) {
      if (outcome.refused === "expired") {
        const expired = decide(state, { kind: "expire" }, now);
        if (!("refused" in expired)) {
          const [changed] = await applyTransition(db, { where, ...expired, at: now }, c.var.metrics);
          if (!changed) continue;
        }
      }
      throw refusalError(outcome);
    }
    const [changed] = await applyTransition(
      db,
      {
        where,
        toStatus: outcome.toStatus,
        actor: outcome.actor,
        reason: outcome.reason,
        event: outcome.event,
        approvals: outcome.approvals,
        currentLevel: outcome.currentLevel,
        at: now,
      },
      c.var.metrics,
    );
    if (changed) {
      c.var.log.info("approval_request_transition", {
        request_id: id,
        result: outcome.result,
        actor: outcome.actor,
      });
      return changed;
    }
  }
  throw new ApiError("conflict", "The request kept changing under this action; read it and retry");
}

/** Approve or reject: identity and level come from the key, and the requester never decides. */
async function decideRequest(c: Context<AppEnv>, id: string, kind: "approve" | "reject") {
  const body = await parseOptionalBody(c, DecisionBody);
  const principal = c.var.principal;
  const identity = approvalIdentity(principal, body);
  if (!identity.allowed) throw new ApiError("forbidden", identity.reason);
  const action = { kind, approverId: identity.approverId, level: identity.level, notes: body.notes ?? null };
  return act(c, id, action, (row) => {
    if (isSelfApproval(principal, { requestedBy: row.requestedBy, createdByKeyId: row.createdByKeyId })) {
      throw new ApiError("forbidden", "Whoever requested an action cannot decide it");
    }
  });
}

async function parseOptionalBody<T extends z.ZodType>(c: Context<AppEnv>, schema: T): Promise<z.infer<T>> {
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
  if (!parsed.success) {
    throw new ApiError("validation_failed", "Invalid request body", {
      target: "json",
      issues: describeIssues(parsed.error),
    });
  }
  return parsed.data;
}

function encodeCursor(row: ApprovalRequestRow): string {
  return btoa(`${row.createdAt.toISOString()}|${row.id}`).replace(/=+$/, "");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = atob(cursor).split("|");
    const createdAt = new Date(at ?? "");
    if (!id || !/^apr_[0-9a-f]{16}$/.test(id) || Number.isNaN(createdAt.getTime()))
      throw new Error("bad cursor");
    return { createdAt, id };
  } catch {
    throw invalidField("cursor", "not a cursor this API issued", "query");
  }
}

export const requestRoutes = createRouter()
  .openapi(rejectPending, async (c) => {
    const body = c.req.valid("json");
    const principal = c.var.principal;
    const now = new Date();
    // Escalated requests wait for a decision too: an emergency reject takes them with the pending ones.
    const filters: SQL[] = [inArray(approvalRequests.status, [...OPEN_STATUSES])];
    if (body.tenant_id) filters.push(eq(approvalRequests.tenantId, body.tenant_id));
    if (body.skill_id) filters.push(eq(approvalRequests.skillId, body.skill_id));
    if (body.agent_id) filters.push(eq(approvalRequests.agentId, body.agent_id));
    if (body.created_before) filters.push(lt(approvalRequests.createdAt, new Date(body.created_before)));
    const rows = await applyTransition(
      createDb(c.env),
      {
        where: sql.join(filters, sql` AND `),
        toStatus: "rejected",
        actor: principal.principalId,
        reason: body.reason,
        event: WEBHOOK_EVENTS.rejected,
        at: now,
      },
      c.var.metrics,
    );
    c.var.log.warn("bulk_reject", { rejected: rows.length, by: principal.principalId, reason: body.reason });
    return c.json({ rejected: rows.length, request_ids: rows.map((row) => row.id) }, 200);
  })
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const principal = c.var.principal;
    if (!inTenantScope(principal, body.tenant_id)) {
      throw new ApiError("forbidden", `This key may not act for tenant ${body.tenant_id}`);
    }
    if (new TextEncoder().encode(JSON.stringify(body.payload)).length > MAX_PAYLOAD_BYTES) {
      throw new ApiError("payload_too_large", `payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
    }
    if (body.webhook_url !== undefined && body.webhook_url !== null) {
      const problem = webhookUrlProblem(body.webhook_url, c.env.ALLOW_INSECURE_WEBHOOKS === "true");
      if (problem) throw invalidField("webhook_url", problem);
    }
    if (body.webhook_secret && !body.webhook_url) throw invalidField("webhook_secret", "needs a webhook_url");
    let webhookSecretEncrypted: string | null = null;
    if (body.webhook_secret) {
      const key = await importEncryptionKey(c.env.WEBHOOK_ENCRYPTION_KEY);
      if (!key) {
        c.var.log.error("webhook_encryption_key_invalid", { reason: "missing or not 32 bytes of base64" });
        throw new ApiError("internal_error", "This deployment cannot store webhook secrets; try again later");
      }
      webhookSecretEncrypted = await encryptSecret(body.webhook_secret, key);
    }

    const idempotencyKey = c.req.valid("header")["idempotency-key"] ?? null;
    const bodyHash = await sha256Hex(canonicalJson(body));
    const db = createDb(c.env);
    const call = {
      policyType: body.policy_type,
      tenantId: body.tenant_id,
      agentId: body.agent_id ?? null,
      skillId: body.skill_id,
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      const policy = await createPolicyFor(db, call, attempt > 0);
      const plan = planRequest({ ...call, payload: body.payload }, policy);
      const now = new Date();
      const id = newRequestId();
      const expiresAt = new Date(now.getTime() + body.expires_in_seconds * 1000);
      const response = {
        request_id: id,
        correlation_id: `cor_${crypto.randomUUID().replaceAll("-", "")}`,
        status: plan.status,
        required_level: plan.requiredLevel,
        escalate_to: plan.escalateTo,
        expires_at: expiresAt.toISOString(),
        created_at: now.toISOString(),
        policy_version: policy.version,
      };
      const inserted = await insertRequest(
        db,
        {
          id,
          correlationId: response.correlation_id,
          status: plan.status,
          statusHistoryJson: [
            {
              from_status: null,
              to_status: plan.status,
              actor: body.requested_by,
              reason: plan.reason,
              timestamp: now.toISOString(),
            },
          ],
          policyType: body.policy_type,
          skillId: body.skill_id,
          tenantId: body.tenant_id,
          agentId: body.agent_id ?? null,
          payload: body.payload,
          payloadHash: await sha256Hex(canonicalJson(body.payload)),
          requestedBy: body.requested_by,
          createdByKeyId: principal.keyId,
          justification: body.justification ?? null,
          requiredLevel: plan.requiredLevel,
          currentLevel: 0,
          requiredApprovals: plan.requiredApprovals,
          escalateTo: plan.escalateTo,
          escalationTimeoutSeconds: plan.escalationTimeoutSeconds,
          policySnapshot: plan.snapshot,
          estimatedCostCents: plan.costCents,
          webhookUrl: body.webhook_url ?? null,
          webhookSecretEncrypted,
          webhookKeyVersion: webhookSecretEncrypted ? SECRET_FORMAT_VERSION : null,
          idempotencyKey,
          idempotencyBodyHash: idempotencyKey ? bodyHash : null,
          createResponse: response,
          expiresAt,
          createdAt: now,
          updatedAt: now,
          resolvedAt: plan.status === "auto_approved" ? now : null,
        },
        policy.version,
        body.requested_by,
      );
      if (inserted.outcome === "retry") continue;
      if (inserted.outcome === "existing") {
        if (inserted.row.idempotencyBodyHash !== bodyHash) {
          throw new ApiError("conflict", "This Idempotency-Key was used with a different body");
        }
        c.header("Idempotent-Replayed", "true");
        return c.json(inserted.row.createResponse as typeof response, 200);
      }
      c.var.metrics.count("nova_approval_requests_total", { status: plan.status });
      if (plan.status === "auto_approved")
        c.var.metrics.count("nova_approval_actions_total", { result: "auto_approved" });
      c.var.log.info("approval_request_created", {
        request_id: id,
        status: plan.status,
        tenant_id: body.tenant_id,
      });
      return c.json(response, 200);
    }
    throw new ApiError("conflict", "Policy changed repeatedly while filing the request; retry");
  })
  .openapi(list, async (c) => {
    const query = c.req.valid("query");
    const principal = c.var.principal;
    if (
      principal.tenantId !== null &&
      query.tenant_id !== undefined &&
      query.tenant_id !== principal.tenantId
    ) {
      throw new ApiError("forbidden", `This key may only read tenant ${principal.tenantId}`);
    }
    const tenant = principal.tenantId ?? query.tenant_id;
    const conditions: (SQL | undefined)[] = [
      tenant ? eq(approvalRequests.tenantId, tenant) : undefined,
      query.status.length ? inArray(approvalRequests.status, query.status) : undefined,
      query.skill_id ? eq(approvalRequests.skillId, query.skill_id) : undefined,
      query.agent_id ? eq(approvalRequests.agentId, query.agent_id) : undefined,
      query.requested_by ? eq(approvalRequests.requestedBy, query.requested_by) : undefined,
      query.created_after ? gte(approvalRequests.createdAt, new Date(query.created_after)) : undefined,
      query.created_before ? lt(approvalRequests.createdAt, new Date(query.created_before)) : undefined,
    ];
    if (query.cursor) {
      const after = decodeCursor(query.cursor);
      conditions.push(
        or(
          lt(approvalRequests.createdAt, after.createdAt),
          and(eq(approvalRequests.createdAt, after.createdAt), lt(approvalRequests.id, after.id)),
        ),
      );
    }
    const rows = await createDb(c.env)
      .select()
      .from(approvalRequests)
      .where(and(...conditions))
      .orderBy(desc(approvalRequests.createdAt), desc(approvalRequests.id))
      .limit(query.limit)
      .offset(query.cursor ? 0 : query.offset);
    const last = rows.at(-1);
    if (last && rows.length === query.limit) {
      const next = new URL(c.req.url);
      next.searchParams.delete("offset");
      next.searchParams.set("cursor", encodeCursor(last));
      c.header("Link", `<${next.pathname}${next.search}>; rel="next"`);
    }
    return c.json(rows.map(toApi), 200);
  })
  .openapi(read, async (c) => {
    const { request_id } = c.req.valid("param");
    const { wait } = c.req.valid("query");
    const db = createDb(c.env);
    const deadline = Date.now() + (wait ?? 0) * 1000;
    let row = await visibleRequest(db, c.var.principal, request_id);
    while (isOpen(row.status as ApprovalStatus)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(WAIT_POLL_MS, left)));
      row = await visibleRequest(db, c.var.principal, request_id);
    }
    return c.json(toApi(row), 200);
  })
  .openapi(decision("approve"), async (c) =>
    c.json(toApi(await decideRequest(c, c.req.valid("param").request_id, "approve")), 200),
  )
  .openapi(decision("reject"), async (c) =>
    c.json(toApi(await decideRequest(c, c.req.valid("param").request_id, "reject")), 200),
  )
  .openapi(cancel, async (c) => {
    const { request_id } = c.req.valid("param");
    const body = await parseOptionalBody(c, CancelBody);
    const principal = c.var.principal;
    const row = await act(
      c,
      request_id,
      { kind: "cancel", actor: principal.principalId, reason: body.reason ?? null },
      (current) => {
        const requester =
          current.requestedBy === principal.principalId || current.createdByKeyId === principal.keyId;
        if (!requester && !can(principal, "emergency")) {
          throw new ApiError("forbidden", "Only the requester or an admin may cancel a request");
        }
      },
    );
    return c.json(toApi(row), 200);
  });
