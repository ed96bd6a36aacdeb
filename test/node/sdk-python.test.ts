// The Python client (sdk/python/policy_api.py) against a real worker, one `wrangler dev` stack for the
// file. Each scenario runs sdk/python/tests/scenario.py (a guarded action) and reacts to its "filed"
// line through the REST API or the database (approve, reject, edit, expire, cancel); a small proxy in
// front of the stack injects 429s, 503s, a dropped wait and a missing or altered receipt. The Python
// unit tests (no stack) and the canonical-JSON hashes against the server's run here too.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { canonicalJson, sha256Hex } from "../../src/domain/encoding.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";
import { agentSnippets, readme, runAgentSnippet } from "./readme-snippets.ts";

const SDK = path.resolve(import.meta.dirname, "../../sdk/python");
const SCENARIO = path.join(SDK, "tests/scenario.py");
const EXAMPLE = path.resolve(import.meta.dirname, "../../examples/python/langgraph_style.py");

interface Run {
  code: number | null;
  output: string;
  events: Record<string, unknown>[];
}

/** Runs python3 with the arguments; `onEvent` sees each JSON line as it comes. */
function python(
  args: string[],
  options: {
    env?: Record<string, string>;
    stdin?: string;
    onEvent?: (event: Record<string, unknown>) => void;
  },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", args, {
      cwd: SDK,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const events: Record<string, unknown>[] = [];
    let output = "";
    let pending = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        const event = JSON.parse(line) as Record<string, unknown>;
        events.push(event);
        options.onEvent?.(event);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, output, events }));
    child.stdin.end(options.stdin ?? "");
  });
}

describe("Python client: pure", () => {
  it("passes its unit tests (canonical JSON, error mapping, retries, the guard's refusals)", async () => {
    const run = await python(["-m", "unittest", "discover", "-s", "tests", "-v"], {});
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/\nOK\n/);
  }, 60_000);

  it("hashes payloads as the server's canonicalJson does (payload_hash, receipts' payload_sha256)", async () => {
    const payloads = [
      { amount: 120 },
      { b: 2, a: { z: [1, 2.5, "x"], y: null }, c: true },
      { text: "héllo → 世界 😀", quote: '"\\', control: "\n\t\u0001" },
      { negative: -3, small: 0.001, big: 123456789012, integral: 7.0 },
      { nested: [{ k2: 1, k1: [] }, {}] },
      {},
    ];
    const run = await python([path.join(SDK, "tests/hash_payloads.py")], { stdin: JSON.stringify(payloads) });
    expect(run.code, run.output).toBe(0);
    const server = await Promise.all(payloads.map((payload) => sha256Hex(canonicalJson(payload))));
    expect(JSON.parse(run.output)).toEqual(server);
  }, 30_000);
});

type Fault = "429" | "503" | "drop" | "strip-receipt" | "tamper-receipt";
interface FaultRule {
  method: string;
  path: RegExp;
  fault: Fault;
  times: number;
}

/** A proxy in front of the stack that injects the faults in `rules` and records what passed. */
function startProxy(upstream: string): Promise<{
  url: string;
  rules: FaultRule[];
  seen: { method: string; url: string; idempotencyKey: string | undefined }[];
  close: () => Promise<void>;
}> {
  const rules: FaultRule[] = [];
  const seen: { method: string; url: string; idempotencyKey: string | undefined }[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const key = req.headers["idempotency-key"];
    seen.push({ method, url, idempotencyKey: typeof key === "string" ? key : undefined });
    const rule = rules.find((r) => r.times > 0 && r.method === method && r.path.test(url));
    if (rule) rule.times -= 1;
    if (rule?.fault === "429" || rule?.fault === "503") {
      const code = rule.fault === "429" ? "rate_limited" : "database_unavailable";
      res.writeHead(Number(rule.fault), { "Content-Type": "application/json", "Retry-After": "1" });
      res.end(
        JSON.stringify({ error: { code, message: "injected by the test proxy" }, request_id: "req_proxy" }),
      );
      return;
    }
    if (rule?.fault === "drop") {
      // A wait cut mid-way: the client sees the connection close without an answer.
      setTimeout(() => req.socket.destroy(), 300);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string" && !["host", "content-length", "connection"].includes(name))
        headers[name] = value;
    }
    const answer = await fetch(`${upstream}${url}`, {
      method,
      headers,
      ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
    });
    let body = Buffer.from(await answer.arrayBuffer());
    if (rule && answer.status === 200) {
      const request = JSON.parse(body.toString("utf8")) as { receipt?: { jws: string } };
      if (rule.fault === "strip-receipt") delete request.receipt;
      if (rule.fault === "tamper-receipt" && request.receipt) {
        // Another request's id in the claims: the client must refuse before any signature check.
        const [header, claims, signature] = request.receipt.jws.split(".");
        const altered = {
          ...JSON.parse(Buffer.from(claims ?? "", "base64url").toString()),
          sub: "apr_ffffffffffffffff",
        };
        request.receipt.jws = `${header}.${Buffer.from(JSON.stringify(altered)).toString("base64url")}.${signature}`;
      }
      body = Buffer.from(JSON.stringify(request));
    }
    const out: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!["content-length", "content-encoding", "transfer-encoding", "connection"].includes(name))
        out[name] = value;
    });
    res.writeHead(answer.status, { ...out, "Content-Length": String(body.length) });
    res.end(body);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}`,
        rules,
        seen,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

describe("Python client: live (own stack)", () => {
  let stack: Stack | undefined;
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  let db: pg.Client | undefined;

  beforeAll(async () => {
    // A wait re-reads the database every second, so a request expired in the database is seen at once.
    stack = await startStack({ log: echoWorkerLine, vars: { WAIT_RECHECK_SECONDS: "1" } });
    proxy = await startProxy(stack.api);
    db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
  }, 90_000);

  afterAll(async () => {
    await db?.end();
    await proxy?.close();
    await stack?.stop();
  }, 30_000);

  const live = () => {
    if (!stack || !proxy || !db) throw new Error("stack did not start");
    return { stack, proxy, db };
  };

  /** POST to the API as `role` (approver by default). */
  const act = async (id: string, verb: string, body: unknown, role = "approver") => {
    const { stack } = live();
    const res = await fetch(`${stack.api}/api/v1/policy/requests/${id}/${verb}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${stack.keys[role]}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  };

  /** Runs one guarded action; `onFiled` decides it from the outside. */
  const scenario = async (
    spec: Record<string, unknown>,
    onFiled?: (id: string) => Promise<void>,
    options: { viaProxy?: boolean; url?: string } = {},
  ) => {
    const { stack, proxy } = live();
    let reacted: Promise<void> | undefined;
    const run = await python([SCENARIO, JSON.stringify(spec)], {
      env: {
        POLICY_API_URL: options.url ?? (options.viaProxy ? proxy.url : stack.api),
        POLICY_API_KEY: stack.keys.agent ?? "",
      },
      onEvent: (event) => {
        if (event.event === "filed" && onFiled) reacted = onFiled(String(event.request_id));
      },
    });
    await reacted;
    const done = run.events.find((event) => event.event === "done");
    expect(done, run.output).toBeDefined();
    expect(run.output).not.toContain(stack.keys.agent ?? "no key");
    return { ...run, done: done as Record<string, unknown> & { error?: Record<string, unknown> } };
  };

  const transfer = { skill_id: "payments.transfer", payload: { amount: 120, memo: "invoice 7" } };

  it("allow: runs the action with the payload, no request filed", async () => {
    const run = await scenario({ skill_id: "search.web", payload: { query: "weather" } });
    expect(run.code, run.output).toBe(0);
    expect(run.done.ran_with).toEqual({ query: "weather" });
    expect(run.events.some((event) => event.event === "filed")).toBe(false);
  }, 30_000);

  it("deny: raises Denied and never runs the action", async () => {
    const run = await scenario({ skill_id: "shell.exec", payload: { cmd: "rm -rf /" } });
    expect(run.code, run.output).toBe(3);
    expect(run.done).toMatchObject({ ran: false, error: { type: "Denied", code: "policy_denied" } });
  }, 30_000);

  it("approved while waiting: runs once the approver approves through the REST API (receipt checked)", async () => {
    const run = await scenario(transfer, (id) => act(id, "approve", { notes: "invoice checked" }));
    expect(run.code, run.output).toBe(0);
    expect(run.done.ran_with).toEqual(transfer.payload);
  }, 40_000);

  it("an edited payload reaches the action, not the filed one", async () => {
    const edited = { amount: 80, memo: "invoice 7" };
    const run = await scenario(transfer, (id) =>
      act(id, "approve", { payload: edited, notes: "capped at 80" }),
    );
    expect(run.code, run.output).toBe(0);
    expect(run.done.ran_with).toEqual(edited);
  }, 40_000);

  it("redeem: the approval runs the action once; the same request guarded again is refused", async () => {
    let filed = "";
    const first = await scenario({ ...transfer, redeem: true }, (id) => {
      filed = id;
      return act(id, "approve", { notes: "once" });
    });
    expect(first.code, first.output).toBe(0);
    // A second process resuming the same request (request_id=): valid receipt, already redeemed.
    const again = await scenario({ ...transfer, redeem: true, request_id: filed });
    expect(again.code, again.output).toBe(3);
    expect(again.done).toMatchObject({
      ran: false,
      error: { type: "ReceiptError", code: "receipt_already_redeemed", status: 409 },
    });
  }, 40_000);

  it("reject: raises Rejected with the approver's reason and decided_by; the action never runs", async () => {
    const notes = 'not this week. "reason_code": "approved_by_quorum"';
    const run = await scenario(transfer, (id) => act(id, "reject", { notes }));
    expect(run.code, run.output).toBe(3);
    expect(run.done).toMatchObject({
      ran: false,
      error: { type: "Rejected", reason: notes, reason_code: "rejected_by_approver" },
    });
    expect(run.done.error?.decided_by).toEqual([
      { role: "approver", principal_id: "dev-approver", level: 4 },
    ]);
  }, 40_000);

  it("expiry: raises Expired; the action never runs", async () => {
    const { db } = live();
    const run = await scenario(transfer, async (id) => {
      await db.query("UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1", [
        id,
      ]);
    });
    expect(run.code, run.output).toBe(3);
    expect(run.done).toMatchObject({ ran: false, error: { type: "Expired", reason_code: "expired" } });
  }, 40_000);

  it("cancel, wait timeout and network failure: raised, the action never runs", async () => {
    const cancelled = await scenario(transfer, (id) =>
      act(id, "cancel", { reason: "changed my mind" }, "admin"),
    );
    expect(cancelled.done).toMatchObject({
      ran: false,
      error: { type: "Cancelled", reason: "changed my mind" },
    });
    const timedOut = await scenario({ ...transfer, wait_timeout: 2 });
    expect(timedOut.done).toMatchObject({ ran: false, error: { type: "WaitTimeout" } });
    const offline = await scenario(transfer, undefined, { url: "http://127.0.0.1:9" });
    expect(offline.done).toMatchObject({ ran: false, error: { type: "NetworkError" } });
    for (const run of [cancelled, timedOut, offline]) expect(run.code, run.output).toBe(3);
  }, 60_000);

  it("retries 429 and 503 honouring Retry-After (one Idempotency-Key) and resumes a dropped wait", async () => {
    const { proxy } = live();
    proxy.seen.length = 0;
    proxy.rules.push(
      { method: "POST", path: /^\/api\/v1\/policy\/eval$/, fault: "429", times: 1 },
      { method: "POST", path: /^\/api\/v1\/policy\/requests$/, fault: "503", times: 1 },
      { method: "GET", path: /^\/api\/v1\/policy\/requests\/apr_[0-9a-f]+\?wait=/, fault: "drop", times: 1 },
    );
    const run = await scenario(
      transfer,
      async (id) => {
        // Approve only after the first wait was dropped: the answer must come from a resumed wait.
        const deadline = Date.now() + 10_000;
        while (proxy.rules.some((rule) => rule.fault === "drop" && rule.times > 0) && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 100));
        await new Promise((resolve) => setTimeout(resolve, 500));
        await act(id, "approve", { notes: "ok" });
      },
      { viaProxy: true },
    );
    expect(run.code, run.output).toBe(0);
    expect(run.done.ran_with).toEqual(transfer.payload);
    expect(proxy.rules.every((rule) => rule.times === 0)).toBe(true);
    const evals = proxy.seen.filter((call) => call.url === "/api/v1/policy/eval");
    const filings = proxy.seen.filter(
      (call) => call.method === "POST" && call.url === "/api/v1/policy/requests",
    );
    const waits = proxy.seen.filter((call) => call.url.includes("?wait="));
    expect(evals).toHaveLength(2);
    expect(filings).toHaveLength(2);
    expect(new Set(filings.map((call) => call.idempotencyKey)).size).toBe(1);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    // Two Retry-After: 1 honoured.
    expect(Number(run.done.seconds)).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it("a missing or altered receipt, or 429s past the retries: raised, the action never runs", async () => {
    const { proxy } = live();
    const read = /^\/api\/v1\/policy\/requests\/apr_[0-9a-f]+(\?wait=\d+)?$/;
    const approve = (id: string) => act(id, "approve", {});
    proxy.rules.push({ method: "GET", path: read, fault: "strip-receipt", times: 100 });
    const missing = await scenario(transfer, approve, { viaProxy: true });
    proxy.rules.length = 0;
    expect(missing.done).toMatchObject({
      ran: false,
      error: { type: "ReceiptError", code: "receipt_missing" },
    });
    proxy.rules.push({ method: "GET", path: read, fault: "tamper-receipt", times: 100 });
    const altered = await scenario(transfer, approve, { viaProxy: true });
    proxy.rules.length = 0;
    expect(altered.done).toMatchObject({
      ran: false,
      error: { type: "ReceiptError", code: "receipt_wrong_request" },
    });
    proxy.rules.push({ method: "POST", path: /^\/api\/v1\/policy\/eval$/, fault: "429", times: 2 });
    const limited = await scenario({ ...transfer, retries: 1 }, undefined, { viaProxy: true });
    proxy.rules.length = 0;
    expect(limited.done).toMatchObject({
      ran: false,
      error: { type: "PolicyError", code: "rate_limited", status: 429 },
    });
    for (const run of [missing, altered, limited]) expect(run.code, run.output).toBe(3);
  }, 60_000);

  it("README: the Python agent snippet runs verbatim in a fresh folder and pays once approved", async () => {
    const { stack } = live();
    const { setup, snippets } = agentSnippets(readme());
    const snippet = snippets.find((s) => s.lang === "python");
    if (!snippet) throw new Error("README.md's agent section has no Python snippet");
    let approved: Promise<void> | undefined;
    const { code, output } = await runAgentSnippet(snippet, setup, stack, (line) => {
      const id = /apr_[0-9a-f]{16}/.exec(line)?.[0];
      if (id && !approved) approved = act(id, "approve", { notes: "README snippet" });
    });
    await approved;
    expect(approved, output).toBeDefined();
    expect(code, output).toBe(0);
    expect(output).toContain("paid {'amount': 120}");
    expect(output).not.toContain(stack.keys.agent ?? "no key");
  }, 40_000);

  it("examples/python/langgraph_style.py: interrupts on requires_approval, resumes after the approval", async () => {
    const { stack } = live();
    const folder = mkdtempSync(path.join(os.tmpdir(), "langgraph-style-"));
    try {
      const checkpoint = path.join(folder, "thread.json");
      const env = { POLICY_API_URL: stack.api, POLICY_AGENT_KEY: stack.keys.agent ?? "" };
      const args = [EXAMPLE, "--state", checkpoint, "--amount", "150"];
      const first = await python([...args, "--wait", "1"], { env });
      expect(first.code, first.output).toBe(2);
      expect(first.output).toMatch(/\[interrupt\] waiting for approval of apr_[0-9a-f]{16}/);
      expect(first.output).not.toMatch(/sending/);
      const saved = JSON.parse(readFileSync(checkpoint, "utf8")) as {
        state: { request_id: string };
        next: number;
      };
      expect(saved.next).toBe(1);
      await act(saved.state.request_id, "approve", { payload: { amount: 100, memo: "invoice 7" } });
      const second = await python([...args, "--wait", "10"], { env });
      expect(second.code, second.output).toBe(0);
      expect(second.output).toContain('[transfer] approved: sending {"amount": 100, "memo": "invoice 7"}');
      expect(second.output).not.toMatch(/approval requested/);
      expect(second.output).not.toContain(stack.keys.agent ?? "no key");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 40_000);
});
