// The MCP tools: each one a REST operation under another name, with the same permission, the same
// service call and an input schema built from that route's zod schema (the same fields, bounds,
// defaults and messages; test/mcp-consistency.test.ts holds them together), plus descriptions an LLM
// can follow. Only the field names differ where REST puts a value outside the body (the request id in
// the path, the Idempotency-Key header, ?wait).
import { z } from "@hono/zod-openapi";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Permission, Principal } from "../domain/access.ts";
import { RequestIdParam } from "../schemas/common.ts";
import { EvalBody, toEvalAnswer, toEvaluateCommand } from "../schemas/eval.ts";
import { CancelBody, CreateBody, IdempotencyKey, toCreateCommand } from "../schemas/requests.ts";
import * as requests from "../services/approval-requests.ts";
import { MAX_WAIT_SECONDS } from "../services/approval-requests.ts";
import type { ServiceContext } from "../services/context.ts";
import { evaluateCall } from "../services/evaluation.ts";
import { evaluationAnswer, filedAnswer, requestAnswer, type ToolAnswer } from "./text.ts";

/** What wait_for_decision waits when the agent names no time: well inside MCP clients' 60 s timeouts. */
export const DEFAULT_WAIT_SECONDS = 30;

// ---------------------------------------------------------------------------------------------------
// Tool input schemas

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
// Tools

/** Who calls a tool, and the services it runs with. */
export interface ToolCall {
  ctx: ServiceContext;
  principal: Principal;
}

export interface ToolSpec<S extends z.ZodType<Record<string, unknown>>> {
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
      return evaluationAnswer(toEvalAnswer(await evaluateCall(ctx, principal, toEvaluateCommand(args))));
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
      return filedAnswer(created, replayed);
    },
  }),
  tool({
    name: "wait_for_decision",
    title: "Wait for an approval decision",
    description: `Wait (up to wait_seconds, at most ${MAX_WAIT_SECONDS}) until the approval request is decided, then report it. may_proceed is true only for approved or auto_approved. Rejected, expired and cancelled carry the reason and the approvers' notes. If the wait ends while the request is still pending or escalated the answer says UNDECIDED: undecided is NOT approved, do not perform the action; call this again or cancel. A wait costs your key one rate-limit token per 5 s of wait_seconds, and only a bounded number of waits may be open at once per key and per tenant: beyond it the error is rate_limited; wait details.retry_after_seconds, then call again. Same as GET /api/v1/policy/requests/{request_id}?wait=.`,
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
export function listTools(): Tool[] {
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
