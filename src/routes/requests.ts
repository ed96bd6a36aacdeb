// /api/v1/policy/requests: file, read, list, approve, reject and cancel approval requests, and
// reject every open request at once (the safe form of the runbook's mass reject). Thin: parse,
// authorize (the route's permission), call services/approval-requests.ts, shape the answer.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AuthenticatedEnv } from "../env.ts";
import { ApiError, validationError } from "../lib/errors.ts";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { eventStream, SSE_HEADERS } from "../lib/sse.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { RequestIdParam } from "../schemas/common.ts";
import {
  ApproveBody,
  CancelBody,
  CreateBody,
  CreatedRequestSchema,
  CreateHeaders,
  DecisionBody,
  EventsHeaders,
  GetQuery,
  RejectPendingBody,
  RejectPendingResultSchema,
  RequestListQuery,
  RequestSchema,
  rejectPendingResultToApi,
  requestToApi,
  toCreateCommand,
  toDecisionInput,
  toRejectOpenCommand,
  toRequestSearch,
} from "../schemas/requests.ts";
import * as requests from "../services/approval-requests.ts";

const BASE = "/api/v1/policy/requests";
/** How soon an events stream's client reconnects after the stream ends without a terminal state. */
const STREAM_RETRY_MS = 1000;

const create = protectedRoute(
  "requests:create",
  {
    method: "post",
    path: BASE,
    tags: ["requests"],
    summary: "File an approval request (Idempotency-Key makes retries safe)",
    request: {
      headers: CreateHeaders,
      body: { required: true, content: { "application/json": { schema: CreateBody } } },
    },
    responses: {
      200: jsonResponse(
        CreatedRequestSchema,
        "Filed (pending) or auto-approved; a retry replays the first answer",
      ),
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

const events = protectedRoute(
  "requests:read",
  {
    method: "get",
    path: `${BASE}/{request_id}/events`,
    tags: ["requests"],
    summary: "Stream the request's states as Server-Sent Events until it is decided",
    description: `Each event is the request as GET returns it, with the request's version as its id. The current state comes first (unless Last-Event-ID says the client has it), then every change; the stream ends after a terminal status, or after ${requests.MAX_STREAM_SECONDS} s, when EventSource reconnects with Last-Event-ID and goes on. Heartbeat comments keep a quiet stream alive. Bounded and charged like ?wait.`,
    request: { params: RequestIdParam, headers: EventsHeaders },
    responses: {
      200: {
        description: "text/event-stream: one event per state (id: version, data: the request as JSON)",
        content: { "text/event-stream": { schema: z.string() } },
      },
      204: {
        description: "Last-Event-ID names a terminal state: nothing more will come (EventSource stops)",
      },
    },
  },
  { 404: "No such request (or not in your tenant)" },
);

const list = protectedRoute("requests:read", {
  method: "get",
  path: BASE,
  tags: ["requests"],
  summary: "List requests, newest first (a JSON array; deep paging through the Link header)",
  request: { query: RequestListQuery },
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
        body: {
          required: false,
          content: { "application/json": { schema: kind === "approve" ? ApproveBody : DecisionBody } },
        },
      },
      responses: { 200: jsonResponse(RequestSchema, "The request after the decision") },
    },
    kind === "approve"
      ? {
          403: "The key may not decide this request (its requester, another tenant), an edit below the required level, or policy denies the edited payload or needs a level above the key's (code policy_denied; details.reasons says why)",
          404: "No such request (or not in your tenant)",
          409: "Already decided, expired, already approved by you, or expected_payload_sha256 no longer matches",
        }
      : { 404: "No such request (or not in your tenant)", 409: "Already decided, or expired" },
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
    200: jsonResponse(RejectPendingResultSchema, "What was rejected"),
  },
});

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
  const body = await parseOptionalBody(c, kind === "approve" ? ApproveBody : DecisionBody);
  const row = await requests.decideRequest(c.var.services, c.var.principal, id, kind, toDecisionInput(body));
  return requestToApi(row);
}

export const requestRoutes = createRouter()
  .openapi(rejectPending, async (c) => {
    const command = toRejectOpenCommand(c.req.valid("json"));
    const rows = await requests.rejectOpenRequests(c.var.services, c.var.principal, command);
    return c.json(rejectPendingResultToApi(rows), 200);
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
    const search = toRequestSearch(c.req.valid("query"));
    const { rows, nextCursor } = await requests.searchRequests(c.var.services, c.var.principal, search);
    if (nextCursor) {
      const next = new URL(c.req.url);
      next.searchParams.delete("offset");
      next.searchParams.set("cursor", nextCursor);
      c.header("Link", `<${next.pathname}${next.search}>; rel="next"`);
    }
    return c.json(rows.map(requestToApi), 200);
  })
  .openapi(read, async (c) => {
    const { request_id } = c.req.valid("param");
    const { wait } = c.req.valid("query");
    return c.json(
      requestToApi(await requests.getRequest(c.var.services, c.var.principal, request_id, wait)),
      200,
    );
  })
  .openapi(events, async (c) => {
    const { request_id } = c.req.valid("param");
    const lastVersion = c.req.valid("header")["last-event-id"] ?? null;
    const ctx = c.var.services;
    const watch = await requests.watchRequest(ctx, c.var.principal, request_id, lastVersion);
    if (watch.finished) return c.body(null, 204);
    if (c.req.method === "HEAD") {
      // Answered as GET would be, without the stream: Hono drops a HEAD's body unread and never
      // cancels it, so a stream started here would hold its lease until the lease expired.
      await watch.close();
      return c.body(null, 200, SSE_HEADERS);
    }
    const stream = eventStream({
      events: (async function* () {
        for await (const row of watch.states) {
          yield { id: String(row.version), data: JSON.stringify(requestToApi(row)) };
        }
      })(),
      heartbeatMs: ctx.config.EVENTS_HEARTBEAT_SECONDS * 1000,
      retryMs: STREAM_RETRY_MS,
      onEnd: async (error) => {
        // Mid-stream the status line is sent: a failure ends the stream, the client reconnects, and a
        // lasting one then answers with its status.
        if (error) ctx.log.error("event_stream_failed", { request_id, error });
        await watch.close();
      },
      // The client left while the stream waits for a change: stop the wait now, which ends the stream
      // and releases its lease (the request's signal may never fire once the answer has begun).
      onGone: () => void watch.close(),
    });
    return c.body(stream, 200, SSE_HEADERS);
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
    return c.json(requestToApi(row), 200);
  });
