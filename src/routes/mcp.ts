// POST /mcp: the Policy API as a Model Context Protocol server (Streamable HTTP, stateless), so an
// agent framework can "ask before acting" by pointing its MCP client here. The same API keys, the
// same per-key rate limit (both applied in src/app.ts before this route), and the same services as
// the REST routes: every tool is a REST operation under another name, with its input schema built
// from that route's zod schema (test/mcp-consistency.test.ts holds them together).
//
// One MCP server and transport per HTTP request, answering JSON (no SSE): a Worker keeps no session
// between requests, and a JSON answer ends when the tool does, so the request log line, the metrics
// and waitUntil cover the whole tool call.
//
// The low-level SDK `Server` (not `McpServer`) on purpose: McpServer validates tool arguments itself
// and answers a failure with free text, while here a bad argument is a tool error carrying the API's
// code (validation_failed) and per-field issues, like a 400 from the REST route.
import { StreamableHTTPTransport } from "@hono/mcp";
import { z } from "@hono/zod-openapi";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode as JsonRpcErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ApprovalRequestRow } from "../db/schema.ts";
import { can, type Permission, type Principal } from "../domain/access.ts";
import { isOpen } from "../domain/approvals.ts";
import { levelName } from "../domain/vocabulary.ts";
import type { AppEnv } from "../env.ts";
import { protectedRoute, recordRefusal } from "../lib/auth.ts";
import { ApiError, type ErrorCode } from "../lib/errors.ts";
import { createRouter, describeIssues, jsonResponse } from "../lib/openapi.ts";
import { RequestIdParam } from "../schemas/common.ts";
import { EvalBody, toEvalAnswer, toEvaluateCommand } from "../schemas/eval.ts";
import {
  CancelBody,
  CreateBody,
  IdempotencyKey,
  requestToApi,
  toCreateCommand,
} from "../schemas/requests.ts";
import * as requests from "../services/approval-requests.ts";
import { MAX_WAIT_SECONDS } from "../services/approval-requests.ts";
import type { ServiceContext } from "../services/context.ts";
import { asApiError } from "../services/errors.ts";
import { evaluateCall } from "../services/evaluation.ts";

export const MCP_PATH = "/mcp";
/** What wait_for_decision waits when the agent names no time: well inside MCP clients' 60 s timeouts. */
export const DEFAULT_WAIT_SECONDS = 30;
const SERVER_INFO = { name: "policy-api", title: "Policy API" };
const REQUEST_URI_PREFIX = "policy-request://";

const INSTRUCTIONS = `The Policy API decides whether you may perform an action (a "skill call") and, when a human must approve it, tracks the approval.
Before any consequential action: call evaluate_action. "allow": you may act. "deny": do not act; explain the reasons. "requires_approval": call request_approval (same skill_id, tenant_id, agent_id, payload; a new idempotency_key per action, reused on retries), then wait_for_decision until it is decided.
Only "approved" (or "auto_approved") means you may act. Rejected, expired or cancelled means you must not; an undecided request is NOT approved: keep waiting or stop.`;

// ---------------------------------------------------------------------------------------------------
// Tool input schemas: the REST routes' schemas (the same fields, bounds, defaults and messages), with
// descriptions an LLM can follow. Only the field names differ where the REST API puts a value outside
// the body (the request id in the path, the Idempotency-Key header, ?wait).

const RequestId = RequestIdParam.shape.request_id.describe(
  "The approval request's id (apr_ + 16 hex characters), as request_approval returned it",
);

const EvaluateInput = EvalBody.omit({ policy_overrides: true }).extend({
  skill_id: EvalBody.shape.skill_id.describe(
    "The skill (tool, action) you want to call, e.g. payments.transfer",
  ),
  tenant_id: EvalBody.shape.tenant_id.describe("The tenant you act for"),
  agent_id: EvalBody.shape.agent_id.describe(
    "The agent you act as; omit it to act as your API key's own agent",
  ),
  payload: EvalBody.shape.payload.describe(
    "The arguments of the skill call you intend to make (amounts, recipients, token counts...)",
  ),
  policy_type: EvalBody.shape.policy_type.describe("Which approval-level policy applies (cost by default)"),
  policy_version: EvalBody.shape.policy_version.describe(
    "Optional: the policy-set version you expect; a different current version is a conflict",
  ),
  simulate_cost: EvalBody.shape.simulate_cost.describe("Price the call against the budgets (default true)"),
});

const RequestApprovalInput = CreateBody.extend({
  policy_type: CreateBody.shape.policy_type.describe(
    "Which approval-level policy applies; use cost unless told otherwise",
  ),
  skill_id: CreateBody.shape.skill_id.describe("The skill you want to call, as sent to evaluate_action"),
  tenant_id: CreateBody.shape.tenant_id.describe("The tenant you act for"),
  agent_id: CreateBody.shape.agent_id.describe(
    "The agent you act as; omit it to act as your key's own agent",
  ),
  payload: CreateBody.shape.payload.describe(
    "The exact arguments of the call: an approval covers this payload, not another",
  ),
  requested_by: CreateBody.shape.requested_by.describe(
    "Who asks for the action: your agent id, or the user you act for",
  ),
  justification: CreateBody.shape.justification.describe(
    "Why the action is needed, in a sentence or two, for the human approver",
  ),
  webhook_url: CreateBody.shape.webhook_url.describe("Optional: an https URL to notify of each decision"),
  webhook_secret: CreateBody.shape.webhook_secret.describe("Optional: the secret that signs those webhooks"),
  expires_in_seconds: CreateBody.shape.expires_in_seconds.describe(
    "How long approvers have to decide before the request expires (default 300)",
  ),
  idempotency_key: IdempotencyKey.describe(
    "A unique key you choose for this one action (e.g. a UUID). Send the same key when you retry the same call: it files once and answers with the first request",
  ),
});

const RequestIdInput = z.object({ request_id: RequestId }).strict();

const WaitInput = RequestIdInput.extend({
  wait_seconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_WAIT_SECONDS)
    .default(DEFAULT_WAIT_SECONDS)
    .describe(
      `How long to wait for the decision, in seconds (0 to ${MAX_WAIT_SECONDS}, default ${DEFAULT_WAIT_SECONDS}); the answer comes as soon as the request is decided`,
    ),
});

const CancelInput = CancelBody.extend({
  request_id: RequestId,
  reason: CancelBody.shape.reason.describe("Why you no longer need it (kept in the request's history)"),
});

// ---------------------------------------------------------------------------------------------------
// Answers

interface ToolCall {
  ctx: ServiceContext;
  principal: Principal;
}

interface ToolAnswer {
  /** What the agent reads first: a plain sentence saying what to do next. */
  text: string;
  structured: Record<string, unknown>;
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

function requestAnswer(row: ApprovalRequestRow, waited?: number): ToolAnswer {
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

// ---------------------------------------------------------------------------------------------------
// Tools

interface ToolSpec<S extends z.ZodType<Record<string, unknown>>> {
  name: string;
  title: string;
  description: string;
  /** The REST operation's permission: a key without it gets a `forbidden` tool error. */
  permission: Permission;
  input: S;
  annotations: Tool["annotations"];
  run(call: ToolCall, args: z.output<S>): Promise<ToolAnswer>;
}

function tool<S extends z.ZodType<Record<string, unknown>>>(spec: ToolSpec<S>): ToolSpec<S> {
  return spec;
}

export const MCP_TOOLS = [
  tool({
    name: "evaluate_action",
    title: "Ask whether an action is allowed",
    description:
      'Call this BEFORE performing any consequential action (payments, emails, deletions, shell, spending). Returns decision "allow" (go ahead), "deny" (do not; reasons and violations say why) or "requires_approval" (do not act yet: call request_approval with the same fields, then wait_for_decision), with the approval level required. Same as POST /api/v1/policy/eval.',
    permission: "policy:evaluate",
    input: EvaluateInput,
    annotations: { readOnlyHint: true, openWorldHint: false },
    async run({ ctx, principal }, args) {
      const answer = toEvalAnswer(await evaluateCall(ctx, principal, toEvaluateCommand(args)));
      const next = {
        allow: "ALLOW: you may perform the action.",
        deny: "DENY: do not perform the action.",
        requires_approval: `REQUIRES APPROVAL (level ${answer.approval_level_required} ${answer.approval_level_name}): do not act yet; call request_approval with the same skill_id, tenant_id, agent_id and payload, then wait_for_decision.`,
      }[answer.decision];
      const reasons = answer.reasons.length > 0 ? ` Reasons: ${answer.reasons.join("; ")}.` : "";
      return { text: `${next}${reasons}`, structured: answer };
    },
  }),
  tool({
    name: "request_approval",
    title: "File an approval request",
    description:
      "File a request for a human (or higher-level agent) to approve an action that evaluate_action said requires_approval. Idempotent: retrying with the same idempotency_key files nothing new and returns the first answer. Returns request_id, status (pending, or auto_approved when within the auto-approve limits) and expires_at, the deadline. If policy denies the action outright, nothing is filed and the error is policy_denied with the reasons. Then call wait_for_decision. Same as POST /api/v1/policy/requests with an Idempotency-Key.",
    permission: "requests:create",
    input: RequestApprovalInput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async run({ ctx, principal }, { idempotency_key, ...body }) {
      const { created, replayed } = await requests.createRequest(
        ctx,
        principal,
        toCreateCommand(body, idempotency_key),
      );
      const first = replayed ? " (a retry: this is the request filed the first time with this key)" : "";
      const text =
        created.status === "auto_approved"
          ? `APPROVED: request ${created.request_id} was auto-approved within the policy's limits${first}. You may perform the action exactly as filed.`
          : `FILED: request ${created.request_id} is ${created.status}${first}, needing approval level ${created.required_level}; approvers have until ${created.expires_at}. Do not perform the action yet: call wait_for_decision with this request_id.`;
      return { text, structured: { ...created, replayed } };
    },
  }),
  tool({
    name: "wait_for_decision",
    title: "Wait for an approval decision",
    description: `Wait (up to wait_seconds, at most ${MAX_WAIT_SECONDS}) until the approval request is decided, then report it. may_proceed is true only for approved or auto_approved. Rejected, expired and cancelled carry the reason and the approvers' notes. If the wait ends while the request is still pending or escalated the answer says UNDECIDED: undecided is NOT approved, do not perform the action; call this again or cancel. Same as GET /api/v1/policy/requests/{request_id}?wait=.`,
    permission: "requests:read",
    input: WaitInput,
    annotations: { readOnlyHint: true, openWorldHint: false },
    async run({ ctx, principal }, { request_id, wait_seconds }) {
      const started = Date.now();
      const row = await requests.getRequest(ctx, principal, request_id, wait_seconds);
      return requestAnswer(row, Math.round((Date.now() - started) / 1000));
    },
  }),
  tool({
    name: "get_request",
    title: "Read an approval request",
    description:
      "Read an approval request now, without waiting: its status, whether you may proceed, the reason and approvers' notes, and the full request with its history. Same as GET /api/v1/policy/requests/{request_id}.",
    permission: "requests:read",
    input: RequestIdInput,
    annotations: { readOnlyHint: true, openWorldHint: false },
    async run({ ctx, principal }, { request_id }) {
      return requestAnswer(await requests.getRequest(ctx, principal, request_id));
    },
  }),
  tool({
    name: "cancel_request",
    title: "Cancel an approval request",
    description:
      "Withdraw an approval request you filed and no longer need (only its requester may). A decided request cannot be cancelled (error conflict). Same as POST /api/v1/policy/requests/{request_id}/cancel.",
    permission: "requests:cancel",
    input: CancelInput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    async run({ ctx, principal }, { request_id, reason }) {
      return requestAnswer(await requests.cancelRequest(ctx, principal, request_id, reason ?? null));
    },
  }),
] as const;

/** The tools as MCP lists them (JSON Schema of what a client may send), computed once per isolate. */
let listed: Tool[] | undefined;
function listTools(): Tool[] {
  listed ??= MCP_TOOLS.map((spec) => ({
    name: spec.name,
    title: spec.title,
    description: spec.description,
    // Draft-07, as the SDK's own McpServer emits, for the widest client support.
    inputSchema: z.toJSONSchema(spec.input, { io: "input", target: "draft-7" }) as Tool["inputSchema"],
    annotations: spec.annotations,
  }));
  return listed;
}

/** A refusal or failure as an MCP tool error: the API's code first, so agents and people can switch on it. */
function toolError(c: Context<AppEnv>, error: ApiError): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text: `${error.code}: ${error.message}` }],
    structuredContent: { ...error.toBody(c.var.requestId) },
  };
}

async function callTool(c: Context<AppEnv>, name: string, args: unknown): Promise<CallToolResult> {
  const ctx = c.var.services;
  const principal = c.var.principal;
  const spec = MCP_TOOLS.find((candidate) => candidate.name === name);
  ctx.annotate("mcp_tool", { mcp_tool: spec ? name : "unknown" });
  try {
    if (!spec) throw new ApiError("not_found", `No tool ${name}: see tools/list`);
    if (!can(principal, spec.permission)) {
      throw new ApiError(
        "forbidden",
        `The ${principal.role} role may not ${spec.permission.replace(":", " ")} (tool ${name})`,
      );
    }
    const parsed = spec.input.safeParse(args ?? {});
    if (!parsed.success) {
      throw new ApiError("validation_failed", `Invalid arguments for ${name}`, {
        target: "arguments",
        issues: describeIssues(parsed.error),
      });
    }
    // Each spec's run takes its own input's output type; the union of specs loses that pairing.
    const run = spec.run as (call: ToolCall, args: unknown) => Promise<ToolAnswer>;
    const answer = await run({ ctx, principal }, parsed.data);
    return { content: [{ type: "text", text: answer.text }], structuredContent: answer.structured };
  } catch (error) {
    const apiError = asApiError(error, ctx.log);
    // Logged and counted like a REST 403 (auth_forbidden, nova_auth_failures_total{reason=forbidden}).
    recordRefusal(c, apiError);
    ctx.annotate("mcp_tool", { mcp_tool_error: apiError.code });
    return toolError(c, apiError);
  }
}

// ---------------------------------------------------------------------------------------------------
// Resources: a request as policy-request://{request_id}, read with the same rules as get_request.

async function readResource(c: Context<AppEnv>, uri: string) {
  const id = uri.startsWith(REQUEST_URI_PREFIX) ? uri.slice(REQUEST_URI_PREFIX.length) : "";
  try {
    if (!can(c.var.principal, "requests:read")) {
      throw new ApiError("forbidden", `The ${c.var.principal.role} role may not read requests`);
    }
    const row = await requests.getRequest(c.var.services, c.var.principal, id);
    return {
      contents: [{ uri, mimeType: "application/json", text: JSON.stringify(requestAnswer(row).structured) }],
    };
  } catch (error) {
    const apiError = asApiError(error, c.var.log);
    recordRefusal(c, apiError);
    // Resource reads have no tool-error form: a JSON-RPC error carrying the API's code in data.
    const code =
      apiError.code === "not_found" ? JsonRpcErrorCode.InvalidParams : JsonRpcErrorCode.InternalError;
    throw new McpError(code, `${apiError.code}: ${apiError.message}`, {
      code: apiError.code,
      request_id: c.var.requestId,
    });
  }
}

/**
 * The SDK validates JSON Schema only for elicitation (asking the client's user for input), which this
 * server never does; its default, an Ajv instance, costs about 1 ms of CPU per request to build.
 */
const NO_ELICITATION: jsonSchemaValidator = {
  getValidator: () => () => ({
    valid: false,
    data: undefined,
    errorMessage: "this server does not elicit input",
  }),
};

function createMcpServer(c: Context<AppEnv>): Server {
  // The low-level Server on purpose (see the top of the file); its deprecation note steers simple
  // servers to McpServer.
  const server = new Server(
    { ...SERVER_INFO, version: c.env.SERVICE_VERSION },
    {
      capabilities: { tools: {}, resources: {} },
      instructions: INSTRUCTIONS,
      jsonSchemaValidator: NO_ELICITATION,
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listTools() }));
  server.setRequestHandler(CallToolRequestSchema, (request) =>
    callTool(c, request.params.name, request.params.arguments),
  );
  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: [] }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [
      {
        name: "approval_request",
        title: "Approval request",
        uriTemplate: `${REQUEST_URI_PREFIX}{request_id}`,
        description:
          "An approval request you may read: where it stands (may_proceed, reason, approvers' notes) and the full request with its history",
        mimeType: "application/json",
      },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => readResource(c, request.params.uri));
  return server;
}

// ---------------------------------------------------------------------------------------------------
// HTTP

/** The transport's own HTTP refusals (not JSON, unknown protocol version...) in the one error envelope. */
async function transportRefusal(error: HTTPException): Promise<ApiError> {
  let message = error.message;
  try {
    const body = (await error.getResponse().json()) as { error?: { message?: unknown } };
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // No JSON body: keep the exception's message.
  }
  const byStatus: Partial<Record<number, ErrorCode>> = {
    403: "forbidden",
    409: "conflict",
    415: "unsupported_media_type",
  };
  const code = byStatus[error.status] ?? "bad_request";
  return new ApiError(code, message || "Bad MCP request");
}

// One message per HTTP request: the key's rate limit is spent per HTTP request, so a JSON-RPC batch of
// a thousand tool calls would cost one token (MCP dropped batching in 2025-06-18; clients do not batch).
const McpMessage = z
  .union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown())).max(1)], {
    error: "send one JSON-RPC message (an object) per request: batches are not supported",
  })
  .openapi("McpMessage", {
    description:
      "One JSON-RPC 2.0 message of the Model Context Protocol (initialize, tools/list, tools/call, resources/read...); batches are not supported.",
  });

const route = protectedRoute("requests:read", {
  method: "post",
  path: MCP_PATH,
  tags: ["mcp"],
  summary: "Model Context Protocol endpoint (Streamable HTTP): the tools an agent uses to ask before acting",
  description: `Connect an MCP client here with \`Authorization: Bearer <key>\`. Tools: ${MCP_TOOLS.map((t) => t.name).join(", ")}; each needs the permission of the REST operation it stands for (an approver key may read and wait, not evaluate or file). Tool refusals are tool results with isError and the API's error code; HTTP-level refusals (key, rate limit, malformed message) use the error envelope. Stateless: no session, no GET stream (GET answers 405). See docs/MCP.md.`,
  request: { body: { required: true, content: { "application/json": { schema: McpMessage } } } },
  responses: {
    200: jsonResponse(
      z.record(z.string(), z.unknown()).openapi("McpResponse"),
      "The JSON-RPC response (or batch of responses)",
    ),
    202: { description: "Accepted: the message held only notifications or responses" },
  },
});

/** What the worker answers a GET (SSE stream) or DELETE (session end): neither exists here. */
function methodNotAllowed(): never {
  throw new ApiError(
    "method_not_allowed",
    "This MCP endpoint is stateless: send JSON-RPC messages with POST (no GET stream, no session to delete)",
    undefined,
    { Allow: "POST" },
  );
}

export const mcpRoutes = createRouter()
  .openapi(route, async (c) => {
    // Answers carry requests and decisions, like everything under /api: nothing may cache them.
    c.header("Cache-Control", "no-store");
    const server = createMcpServer(c);
    const transport = new StreamableHTTPTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await server.connect(transport);
    try {
      const response = await transport.handleRequest(c, c.req.valid("json"));
      // handleRequest always answers a POST; the type allows undefined for other methods.
      return response ?? c.body(null, 202);
    } catch (error) {
      if (error instanceof HTTPException) throw await transportRefusal(error);
      throw error;
    } finally {
      await server.close();
    }
  })
  .on(["GET", "DELETE"], MCP_PATH, () => methodNotAllowed());
