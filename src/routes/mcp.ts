// POST /mcp: the Policy API as a Model Context Protocol server, so an agent framework can "ask before
// acting" by pointing its MCP client here. The same API keys, the same per-key rate limit (both applied
// in src/app.ts before this route), and the same services as the REST routes. This file defines and
// mounts the route; src/mcp/ is the server, its tools and their texts.

import { ApiError } from "../lib/errors.ts";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { serveMcp } from "../mcp/server.ts";
import { MCP_TOOLS } from "../mcp/tools.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { McpMessage, McpResponse } from "../schemas/mcp.ts";

export const MCP_PATH = "/mcp";

const route = protectedRoute("requests:read", {
  method: "post",
  path: MCP_PATH,
  tags: ["mcp"],
  summary: "Model Context Protocol endpoint (Streamable HTTP): the tools an agent uses to ask before acting",
  description: `Connect an MCP client here with \`Authorization: Bearer <key>\`. Tools: ${MCP_TOOLS.map((t) => t.name).join(", ")}; each needs the permission of the REST operation it stands for (an approver key may read and wait, not evaluate or file). Tool refusals are tool results with isError and the API's error code; HTTP-level refusals (key, rate limit, malformed message) use the error envelope. Stateless: no session, no GET stream (GET answers 405). See docs/MCP.md.`,
  request: { body: { required: true, content: { "application/json": { schema: McpMessage } } } },
  responses: {
    200: jsonResponse(McpResponse, "The JSON-RPC response (or batch of responses)"),
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
    return serveMcp(c, c.req.valid("json"));
  })
  .on(["GET", "DELETE"], MCP_PATH, () => methodNotAllowed());
