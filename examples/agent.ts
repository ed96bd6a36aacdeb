// An agent that asks the Policy API before it acts, over MCP: it evaluates the action it wants to take
// (evaluate_action), files an approval request when one is needed (request_approval), waits for the
// decision (wait_for_decision), then acts only if approved and stops otherwise, printing each step.
//
//   npm run dev                       # in another terminal: the API on http://127.0.0.1:8000
//   npx node examples/agent.ts        # then approve or reject the request it prints
//
// Options (all optional):
//   --url <mcp url>        default $POLICY_MCP_URL, else $POLICY_API_URL/mcp (as the SDKs read it), else
//                          http://127.0.0.1:8000/mcp
//   --skill <skill id>     default payments.transfer (the dev seed wants a manual_approve for it)
//   --payload <json>       default {"amount_cents":25000,"to":"acme-supplies"}
//   --tenant <tenant id>   default demo          --agent <agent id>   default bot-1
//   --wait <seconds>       how long to wait for a decision in all, default 600
// The agent key comes from $POLICY_AGENT_KEY, else from .data/dev-keys.json (written by npm run dev).
// Exit status: 0 acted, 2 stopped (denied, rejected, expired, cancelled or still undecided), 1 error.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

const { values: options } = parseArgs({
  options: {
    url: {
      type: "string",
      default:
        process.env.POLICY_MCP_URL ||
        `${(process.env.POLICY_API_URL || "http://127.0.0.1:8000").replace(/\/+$/, "")}/mcp`,
    },
    skill: { type: "string", default: "payments.transfer" },
    payload: { type: "string", default: '{"amount_cents":25000,"to":"acme-supplies"}' },
    tenant: { type: "string", default: "demo" },
    agent: { type: "string", default: "bot-1" },
    wait: { type: "string", default: "600" },
  },
});

// A tool's text may span lines (the outcome line, then quoted notes): each line gets the prefix.
function say(step: string, text: string): void {
  for (const [index, line] of text.split("\n").entries()) {
    console.log(`[agent] ${(index === 0 ? step : "").padEnd(9)} ${line}`);
  }
}

function agentKey(): string {
  if (process.env.POLICY_AGENT_KEY) return process.env.POLICY_AGENT_KEY;
  const file = path.resolve(import.meta.dirname, "../.data/dev-keys.json");
  try {
    const keys = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    if (keys.agent) return keys.agent;
  } catch {
    // No file: npm run dev has not run here.
  }
  throw new Error(`no agent key: set POLICY_AGENT_KEY, or run npm run dev once (it writes ${file})`);
}

interface ToolAnswer {
  text: string;
  data: Record<string, unknown>;
}

/** Calls a tool; a tool error (isError) becomes an exception carrying the API's error code. */
async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<ToolAnswer> {
  // Long enough for the longest wait_for_decision (55 s) with room to spare.
  const result = (await client.callTool({ name, arguments: args }, undefined, {
    timeout: 90_000,
  })) as CallToolResult;
  const first = result.content[0];
  const text = first?.type === "text" ? first.text : "";
  if (result.isError) throw new Error(`${name} refused: ${text}`);
  return { text, data: (result.structuredContent ?? {}) as Record<string, unknown> };
}

async function main(): Promise<number> {
  const payload = JSON.parse(options.payload) as Record<string, unknown>;
  const action = { skill_id: options.skill, tenant_id: options.tenant, agent_id: options.agent, payload };
  const client = new Client({ name: "policy-api-example-agent", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(options.url), {
      requestInit: { headers: { Authorization: `Bearer ${agentKey()}` } },
    }),
  );
  try {
    say("connect", `${options.url}: tools ${(await client.listTools()).tools.map((t) => t.name).join(", ")}`);
    say("intend", `${action.skill_id} ${JSON.stringify(payload)} for tenant ${action.tenant_id}`);

    // 1. Ask.
    const evaluated = await tool(client, "evaluate_action", action);
    say("ask", evaluated.text);
    if (evaluated.data.decision === "allow") return act(action, "allowed");
    if (evaluated.data.decision === "deny") return stop("policy denies it");

    // 2. File, with one idempotency key for this action: a retry of this call files nothing new.
    const filed = await tool(client, "request_approval", {
      ...action,
      policy_type: "cost",
      requested_by: options.agent,
      justification: "Pay the supplier's open invoice before the due date",
      idempotency_key: `agent-example-${crypto.randomUUID()}`,
    });
    const requestId = String(filed.data.request_id);
    say("file", filed.text);
    if (filed.data.status === "auto_approved") return act(action, "auto-approved");
    say(
      "waiting",
      `for a human: approve or reject ${requestId} (console, or POST /api/v1/policy/requests/${requestId}/approve with an approver key)`,
    );

    // 3. Wait, in bounded long polls, until decided or out of patience.
    const deadline = Date.now() + Number(options.wait) * 1000;
    for (;;) {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      const waited = await tool(client, "wait_for_decision", {
        request_id: requestId,
        wait_seconds: Math.max(0, Math.min(50, left)),
      });
      say("decision", waited.text);
      if (waited.data.may_proceed === true) return act(action, "approved");
      if (waited.data.decided === true) return stop(`request ${waited.data.status}`);
      if (Date.now() >= deadline) {
        // Undecided is not approved: give up, and withdraw the request so nobody approves it later.
        const cancelled = await tool(client, "cancel_request", {
          request_id: requestId,
          reason: "the agent stopped waiting",
        });
        say("cancel", cancelled.text);
        return stop("no decision in time (undecided is not approved)");
      }
    }
  } finally {
    await client.close();
  }
}

function act(action: { skill_id: string; payload: Record<string, unknown> }, why: string): number {
  say("act", `${why} → acting: ${action.skill_id} ${JSON.stringify(action.payload)} (simulated)`);
  return 0;
}

function stop(why: string): number {
  say("stop", `not acting: ${why}`);
  return 2;
}

try {
  process.exitCode = await main();
} catch (error) {
  say("error", error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
