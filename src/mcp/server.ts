// The MCP server behind POST /mcp (Streamable HTTP, stateless): tools/list and tools/call over the
// tools of ./tools.ts, and each approval request as a resource (policy-request://{request_id}).
//
// One MCP server and transport per HTTP request, answering JSON (no SSE): a Worker keeps no session
// between requests, and a JSON answer ends when the tool does, so the request log line, the metrics
// and waitUntil cover the whole tool call.
//
// The low-level SDK `Server` (not `McpServer`) on purpose: McpServer validates tool arguments itself
// and answers a failure with free text, while here a bad argument is a tool error carrying the API's
// code (validation_failed) and per-field issues, like a 400 from the REST route.
import { StreamableHTTPTransport } from "@hono/mcp";
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
} from "@modelcontextprotocol/sdk/types.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AuthenticatedEnv } from "../env.ts";
import { ApiError, type ErrorCode, validationError } from "../lib/errors.ts";
import { assertCan, recordRefusal } from "../lib/permissions.ts";
import * as requests from "../services/approval-requests.ts";
import { asApiError } from "../services/errors.ts";
import { INSTRUCTIONS, requestAnswer, type ToolAnswer } from "./text.ts";
import { listTools, MCP_TOOLS, type ToolCall } from "./tools.ts";

const SERVER_INFO = { name: "policy-api", title: "Policy API" };
const REQUEST_URI_PREFIX = "policy-request://";

// ---------------------------------------------------------------------------------------------------
// Tools

/** A refusal or failure as an MCP tool error: the API's code first, so agents and people can switch on it. */
function toolError(c: Context<AuthenticatedEnv>, error: ApiError): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text: `${error.code}: ${error.message}` }],
    structuredContent: { ...error.toBody(c.var.requestId) },
  };
}

async function callTool(c: Context<AuthenticatedEnv>, name: string, args: unknown): Promise<CallToolResult> {
  const ctx = c.var.services;
  const principal = c.var.principal;
  const spec = MCP_TOOLS.find((candidate) => candidate.name === name);
  ctx.annotate("mcp_tool", { mcp_tool: spec ? name : "unknown" });
  try {
    if (!spec) throw new ApiError("not_found", `No tool ${name}: see tools/list`);
    assertCan(principal, spec.permission);
    const parsed = spec.input.safeParse(args ?? {});
    if (!parsed.success)
      throw validationError(parsed.error.issues, "arguments", `Invalid arguments for ${name}`);
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

async function readResource(c: Context<AuthenticatedEnv>, uri: string) {
  const id = uri.startsWith(REQUEST_URI_PREFIX) ? uri.slice(REQUEST_URI_PREFIX.length) : "";
  try {
    assertCan(c.var.principal, "requests:read");
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

function createMcpServer(c: Context<AuthenticatedEnv>): Server {
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

/** Answers one JSON-RPC message (already parsed from the POST body) with a fresh server and transport. */
export async function serveMcp(c: Context<AuthenticatedEnv>, message: unknown): Promise<Response> {
  const server = createMcpServer(c);
  const transport = new StreamableHTTPTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  await server.connect(transport);
  try {
    const response = await transport.handleRequest(c, message);
    // handleRequest always answers a POST; the type allows undefined for other methods.
    return response ?? c.body(null, 202);
  } catch (error) {
    if (error instanceof HTTPException) throw await transportRefusal(error);
    throw error;
  } finally {
    await server.close();
  }
}
