// The official MCP client (Client + StreamableHTTPClientTransport) connected to the worker's real
// fetch handler inside workerd, with this test file's bindings: what an agent framework would do over
// the network, minus the network.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Bindings } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { testEnv } from "./database.ts";
import { BASE_URL } from "./http.ts";

export async function workerFetch(
  url: string | URL,
  init?: RequestInit,
  envOverrides: Partial<Bindings> = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(url, init), testEnv(envOverrides), ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/**
 * A connected MCP client sending `Authorization: Bearer <token>` (none when token is null), to the
 * worker with this file's bindings plus `envOverrides`.
 */
export async function connectMcp(
  token: string | null,
  envOverrides: Partial<Bindings> = {},
): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE_URL}/mcp`), {
    fetch: (url, init) => workerFetch(url, init, envOverrides),
    requestInit: token === null ? {} : { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "policy-api-tests", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

/** A tool's answer: its text, structured content, and whether it is a tool error. */
export async function callTool(client: Client, name: string, args: Record<string, unknown>) {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const first = result.content[0];
  return {
    isError: result.isError === true,
    text: first?.type === "text" ? first.text : "",
    structured: (result.structuredContent ?? {}) as Record<string, unknown>,
    /** The API error code of a tool error. */
    code: (result.structuredContent as { error?: { code?: string } } | undefined)?.error?.code,
  };
}
