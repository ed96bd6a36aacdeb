// examples/agent.ts against a real worker (`wrangler dev` on a throwaway stack of its own): the
// example asks, files and waits over MCP; an approver approves through the REST API while it waits;
// the example then acts. What a developer trying `npm run dev` + `npx node examples/agent.ts` sees.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack, stopChild } from "../../scripts/lib/stack.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

const EXAMPLE = path.resolve(import.meta.dirname, "../../examples/agent.ts");

describe("examples/agent.ts (own stack)", () => {
  let stack: Stack | undefined;
  let agent: ChildProcess | undefined;

  beforeAll(async () => {
    stack = await startStack({ log: echoWorkerLine });
  }, 90_000);

  afterAll(async () => {
    if (agent) await stopChild(agent);
    await stack?.stop();
  }, 30_000);

  it("asks, files, waits, and acts once an approver approves through the REST API", async () => {
    if (!stack) throw new Error("stack did not start");
    const { api, keys } = stack;
    const lines: string[] = [];
    const child = spawn(process.execPath, [EXAMPLE, "--wait", "40"], {
      env: { ...process.env, POLICY_MCP_URL: `${api}/mcp`, POLICY_AGENT_KEY: keys.agent ?? "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    agent = child;
    let approved: Promise<Response> | undefined;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const complete = buffered.split("\n");
      buffered = complete.pop() ?? "";
      for (const line of complete) {
        lines.push(line);
        // Once the agent is waiting, the approver (level 4, as payments.transfer needs) approves.
        const waiting = /^\[agent\] waiting .*(apr_[0-9a-f]{16})/.exec(line);
        if (waiting && !approved) {
          approved = fetch(`${api}/api/v1/policy/requests/${waiting[1]}/approve`, {
            method: "POST",
            headers: { Authorization: `Bearer ${keys.approver}`, "Content-Type": "application/json" },
            body: JSON.stringify({ notes: "invoice checked" }),
          });
        }
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);

    const code = await exited;
    const output = lines.join("\n");
    expect(approved, output).toBeDefined();
    expect((await approved)?.status, output).toBe(200);
    expect(code, output).toBe(0);
    // Each step, in order: ask (approval needed), file, wait, the decision, act.
    const steps = lines.map((line) => /^\[agent\] (\w+)/.exec(line)?.[1]).filter(Boolean);
    expect(steps, output).toEqual(["connect", "intend", "ask", "file", "waiting", "decision", "act"]);
    expect(output).toMatch(/ask +REQUIRES APPROVAL \(level 4 manual_approve\)/);
    // The outcome line first; the approver's note after it, on a line of its own, quoted as data.
    expect(output).toMatch(/decision +APPROVED: request apr_[0-9a-f]{16} is approved\. You may now perform/);
    expect(output).toMatch(
      /\n\[agent\] +- approve by "dev-approver" \(level 4, counted toward the decision[^)]*\): "invoice checked"\n/,
    );
    expect(output).toMatch(/act +approved → acting: payments\.transfer/);
    // The key never reaches the output.
    expect(output).not.toContain(keys.agent ?? "no key");
  }, 60_000);
});
