// The MCP endpoint on the wire, as OpenAPI sees it: one JSON-RPC message in, a JSON-RPC answer out.
// (The tools' own inputs are in src/mcp/tools.ts, built from the REST schemas.)
import { z } from "@hono/zod-openapi";

// One message per HTTP request: the key's rate limit is spent per HTTP request, so a JSON-RPC batch of
// a thousand tool calls would cost one token (MCP dropped batching in 2025-06-18; clients do not batch).
export const McpMessage = z
  .union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown())).max(1)], {
    error: "send one JSON-RPC message (an object) per request: batches are not supported",
  })
  .openapi("McpMessage", {
    description:
      "One JSON-RPC 2.0 message of the Model Context Protocol (initialize, tools/list, tools/call, resources/read...); batches are not supported.",
  });

export const McpResponse = z.record(z.string(), z.unknown()).openapi("McpResponse");
