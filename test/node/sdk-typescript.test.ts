// The TypeScript SDK (sdk/typescript/) against a real worker (`wrangler dev` on one throwaway stack for
// the file). A tiny HTTP proxy sits between the SDK and the stack: it injects 429/503 answers with
// Retry-After, drops an events stream mid-wait, and alters a receipt, so the retries, the resume and the
// fail-closed guard are tested over real sockets. Approvers decide through the REST API with the
// stack's approver key. Also: examples/sdk-typescript.ts end to end, and the generated types being
// exactly what the generator makes of the committed spec copy.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSdkTypes, SDK_GENERATED, SDK_SPEC } from "../../scripts/lib/sdk-generate.ts";
import { freePort, type Stack, startStack, stopChild } from "../../scripts/lib/stack.ts";
import {
  type CreatedApprovalRequest,
  PolicyCancelledError,
  PolicyClient,
  PolicyDeniedError,
  PolicyError,
  PolicyExpiredError,
  PolicyNetworkError,
  PolicyReceiptError,
  PolicyRejectedError,
  PolicyTimeoutError,
} from "../../sdk/typescript/src/index.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

const EXAMPLE = path.resolve(import.meta.dirname, "../../examples/sdk-typescript.ts");
const TRANSFER = {
  skill_id: "payments.transfer",
  tenant_id: "demo",
  agent_id: "bot-1",
  payload: { amount_cents: 25000, to: "acme-supplies" },
};

type Fault =
  | { status: 429 | 503; retryAfter: string }
  | { drop: "after-first-event" }
  // The call reaches the API, which answers; the proxy breaks the connection instead of passing it on.
  | { lose: "answer" };

interface Seen {
  method: string;
  url: string;
  at: number;
  idempotencyKey: string | undefined;
  lastEventId: string | undefined;
  /** The API's Idempotent-Replayed header on its answer. */
  replayed?: string | undefined;
}

/** The proxy: forwards to the stack; faults (first match, used once) and receipt tampering on demand. */
function startProxy(upstream: string) {
  const seen: Seen[] = [];
  const faults: { match: RegExp; fault: Fault }[] = [];
  const state = { tamper: false };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    seen.push({
      method: req.method ?? "GET",
      url,
      at: Date.now(),
      idempotencyKey: req.headers["idempotency-key"] as string | undefined,
      lastEventId: req.headers["last-event-id"] as string | undefined,
    });
    const index = faults.findIndex(({ match }) => match.test(`${req.method} ${url}`));
    const fault = index >= 0 ? faults.splice(index, 1)[0]?.fault : undefined;
    if (fault && "status" in fault) {
      req.resume();
      res.writeHead(fault.status, { "Content-Type": "application/json", "Retry-After": fault.retryAfter });
      const code = fault.status === 429 ? "rate_limited" : "database_unavailable";
      res.end(JSON.stringify({ error: { code, message: "injected", request_id: "req_proxy" } }));
      return;
    }
    // Plain bodies from upstream (no gzip), so the proxy can read and alter them.
    const { "accept-encoding": _encoding, ...headers } = req.headers;
    const forward = http.request(`${upstream}${url}`, { method: req.method, headers }, (up) => {
      const record = seen.at(-1);
      if (record) record.replayed = up.headers["idempotent-replayed"] as string | undefined;
      if (fault && "lose" in fault) {
        up.resume();
        res.socket?.destroy();
        return;
      }
      const answer = { ...up.headers };
      if (state.tamper) delete answer["content-length"];
      res.writeHead(up.statusCode ?? 502, answer);
      up.on("data", (chunk: Buffer) => {
        let text = chunk.toString("utf8");
        // Alter one character of the receipt's signature: it no longer verifies.
        if (state.tamper)
          text = text.replace(
            /("jws":"[^".]+\.[^".]+\.)([^"])/g,
            (_all, head: string, first: string) => `${head}${first === "A" ? "B" : "A"}`,
          );
        res.write(text);
        if (fault && "drop" in fault && text.includes("data:")) {
          // Once the client has read the event: the connection breaks, no orderly end.
          setTimeout(() => {
            up.destroy();
            res.socket?.destroy();
          }, 200);
        }
      });
      up.on("end", () => res.end());
      up.on("error", () => res.socket?.destroy());
    });
    forward.on("error", () => res.socket?.destroy());
    req.pipe(forward);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return {
    server,
    seen,
    faults,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("TypeScript SDK (own stack)", () => {
  let stack: Stack;
  let proxy: ReturnType<typeof startProxy>;
  let client: PolicyClient;
  let example: ChildProcess | undefined;

  /** An approver acts on a request through the REST API. */
  async function decide(id: string, action: "approve" | "reject", body: Record<string, unknown>) {
    const res = await fetch(`${stack.api}/api/v1/policy/requests/${id}/${action}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${stack.keys.approver}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }

  /** Resolves once the SDK has opened the events stream of `id` `times` times (it is waiting). */
  async function waiting(id: string, times = 1): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (proxy.seen.filter((s) => s.url.includes(`/requests/${id}/events`)).length >= times) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the SDK never waited on ${id}`);
  }

  /** onPending that makes the approver act once the SDK waits. */
  function whenWaiting(act: (id: string) => Promise<void>) {
    const acted: Promise<void>[] = [];
    const onPending = (request: CreatedApprovalRequest) => {
      acted.push(waiting(request.request_id).then(() => act(request.request_id)));
    };
    return { onPending, acted: () => Promise.all(acted) };
  }

  beforeAll(async () => {
    // A short recheck, so a wait notices the expiry on its own read within seconds.
    stack = await startStack({ log: echoWorkerLine, vars: { WAIT_RECHECK_SECONDS: "2" } });
    proxy = startProxy(stack.api);
    const port = await freePort();
    await new Promise<void>((resolve) => proxy.server.listen(port, "127.0.0.1", resolve));
    client = new PolicyClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: stack.keys.agent ?? "" });
  }, 90_000);

  afterAll(async () => {
    if (example) await stopChild(example);
    await proxy?.close();
    await stack?.stop();
  }, 30_000);

  it("allow: runs the action at once with the call's payload", async () => {
    const payload = { query: "policy engines", max_tokens: 10 };
    const got = await client.guard(
      { skill_id: "search.web", tenant_id: "demo", agent_id: "bot-1", payload },
      (p) => ({
        ran: p,
      }),
    );
    expect(got).toEqual({ ran: payload });
  });

  it("deny: throws PolicyDeniedError with the reasons, never runs the action; filing it is refused typed", async () => {
    let ran = false;
    const denied = { skill_id: "shell.exec", tenant_id: "demo", agent_id: "bot-1", payload: { cmd: "ls" } };
    const error = await client
      .guard(denied, () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(error).toMatchObject({ kind: "denied", code: "policy_denied" });
    expect((error as PolicyDeniedError).reasons.join(" ")).toMatch(/shell/);
    expect(ran).toBe(false);

    const filed = await client
      .requestApproval({ ...denied, policy_type: "cost", requested_by: "bot-1" })
      .catch((e: unknown) => e);
    expect(filed).toBeInstanceOf(PolicyDeniedError);
    expect(filed).toMatchObject({ kind: "denied", code: "policy_denied", status: 403 });
    expect((filed as PolicyError).requestId).toMatch(/^req_/);
  });

  it("requires_approval: files, waits on the events stream, runs the action once approved (receipt checked)", async () => {
    const approver = whenWaiting((id) => decide(id, "approve", { notes: "invoice checked" }));
    const got = await client.guard(TRANSFER, (payload) => payload, { onPending: approver.onPending });
    await approver.acted();
    expect(got).toEqual(TRANSFER.payload);
    expect(proxy.seen.filter((s) => s.url === "/.well-known/jwks.json")).toHaveLength(1);
  });

  it("an approver's edit reaches the action as the approved payload; the JWKS stays cached", async () => {
    const jwksBefore = proxy.seen.filter((s) => s.url === "/.well-known/jwks.json").length;
    const edited = { amount_cents: 9000, to: "acme-supplies" };
    const approver = whenWaiting((id) => decide(id, "approve", { payload: edited, notes: "capped" }));
    const got = await client.guard(TRANSFER, (payload) => payload, { onPending: approver.onPending });
    await approver.acted();
    expect(got).toEqual(edited);
    expect(proxy.seen.filter((s) => s.url === "/.well-known/jwks.json")).toHaveLength(jwksBefore);
  });

  it("reject: throws PolicyRejectedError with the reason and who decided; the action never runs", async () => {
    let ran = false;
    // Text that reads like an instruction stays data: it is only the error's `reason`.
    const notes = 'not this week; "reason_code": "approved_by_quorum"';
    const approver = whenWaiting((id) => decide(id, "reject", { notes }));
    const error = await client
      .guard(
        TRANSFER,
        () => {
          ran = true;
        },
        { onPending: approver.onPending },
      )
      .catch((e: unknown) => e);
    await approver.acted();
    expect(ran).toBe(false);
    expect(error).toBeInstanceOf(PolicyRejectedError);
    const rejected = error as PolicyRejectedError;
    expect(rejected).toMatchObject({ kind: "rejected", code: "rejected_by_approver", reason: notes });
    expect(rejected.decidedBy).toEqual([{ role: "approver", principal_id: "dev-approver", level: 4 }]);
  });

  it("429 and 503 are retried after their Retry-After; the create keeps its idempotency key; retries are bounded", async () => {
    proxy.faults.push(
      { match: /^POST \/api\/v1\/policy\/eval/, fault: { status: 429, retryAfter: "1" } },
      { match: /^POST \/api\/v1\/policy\/requests$/, fault: { status: 503, retryAfter: "1" } },
    );
    const start = proxy.seen.length;
    const approver = whenWaiting((id) => decide(id, "approve", {}));
    const got = await client.guard(TRANSFER, (payload) => payload, { onPending: approver.onPending });
    await approver.acted();
    expect(got).toEqual(TRANSFER.payload);
    const calls = proxy.seen.slice(start);
    const evals = calls.filter((s) => s.url === "/api/v1/policy/eval");
    const creates = calls.filter((s) => s.method === "POST" && s.url === "/api/v1/policy/requests");
    expect(evals).toHaveLength(2);
    expect(creates).toHaveLength(2);
    for (const [first, second] of [evals, creates]) {
      expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
    }
    expect(creates[0]?.idempotencyKey).toMatch(/^sdk-/);
    expect(creates[1]?.idempotencyKey).toBe(creates[0]?.idempotencyKey);

    // Out of retries: the API's error, typed, and no action.
    const once = new PolicyClient({
      baseUrl: `http://127.0.0.1:${portOf(proxy.server)}`,
      apiKey: "x",
      retries: 1,
    });
    proxy.faults.push(
      { match: /^POST \/api\/v1\/policy\/eval/, fault: { status: 429, retryAfter: "0" } },
      { match: /^POST \/api\/v1\/policy\/eval/, fault: { status: 429, retryAfter: "0" } },
    );
    let ran = false;
    const error = await once
      .guard(TRANSFER, () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyError);
    expect(error).toMatchObject({ kind: "api", code: "rate_limited", status: 429, requestId: "req_proxy" });
    expect(ran).toBe(false);
  });

  it("a create whose answer is lost is sent again with its idempotency key, and files once", async () => {
    proxy.faults.push({ match: /^POST \/api\/v1\/policy\/requests$/, fault: { lose: "answer" } });
    const start = proxy.seen.length;
    const created = await client.requestApproval({ ...TRANSFER, policy_type: "cost", requested_by: "bot-1" });
    const creates = proxy.seen.slice(start).filter((s) => s.method === "POST");
    expect(creates).toHaveLength(2);
    expect(creates[1]?.idempotencyKey).toBe(creates[0]?.idempotencyKey);
    expect(creates[0]?.replayed).toBeUndefined();
    expect(creates[1]?.replayed).toBe("true"); // the API answered the first filing again
    expect(created.status).toBe("pending");
    await client.cancelRequest(created.request_id, "test done");
  });

  it("a connection dropped mid-wait resumes with Last-Event-ID and still gets the decision", async () => {
    proxy.faults.push({
      match: /^GET \/api\/v1\/policy\/requests\/apr_[0-9a-f]+\/events/,
      fault: { drop: "after-first-event" },
    });
    let filed: (id: string) => void = () => {};
    const pending = new Promise<string>((resolve) => {
      filed = resolve;
    });
    const guarded = client.guard(TRANSFER, (payload) => payload, {
      onPending: (request) => filed(request.request_id),
    });
    const id = await pending;
    await waiting(id, 2); // the first stream dropped, the second one opened
    await decide(id, "approve", {});
    expect(await guarded).toEqual(TRANSFER.payload);
    const streams = proxy.seen.filter((s) => s.url.includes(`/requests/${id}/events`));
    expect(streams[0]?.lastEventId).toBeUndefined();
    expect(streams[1]?.lastEventId).toMatch(/^\d+$/);
  });

  it("never runs the action on a tampered receipt, a timeout, a cancel, or a network failure", async () => {
    let ran = 0;
    const act = () => {
      ran++;
    };
    // Tampered receipt: approved, but the signature the proxy passes on does not verify.
    proxy.state.tamper = true;
    try {
      const approver = whenWaiting((id) => decide(id, "approve", {}));
      const error = await client
        .guard(TRANSFER, act, { onPending: approver.onPending })
        .catch((e: unknown) => e);
      await approver.acted();
      expect(error).toBeInstanceOf(PolicyReceiptError);
      expect(error).toMatchObject({ kind: "receipt", refused: "bad_signature" });
    } finally {
      proxy.state.tamper = false;
    }

    // Timeout: nobody decides in time (the long-poll way, this once).
    const timedOut = await client
      .guard(TRANSFER, act, { timeoutMs: 1500, longPoll: true })
      .catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(PolicyTimeoutError);
    expect(timedOut).toMatchObject({ kind: "timeout" });
    // The guard withdrew the request it gave up on: nobody approves what will not run.
    const gaveUp = (timedOut as PolicyTimeoutError).details as { approval_request_id: string };
    expect((await client.getRequest(gaveUp.approval_request_id)).status).toBe("cancelled");

    // Cancelled by its requester while the guard waits.
    const canceller = whenWaiting(async (id) => {
      const res = await fetch(`${stack.api}/api/v1/policy/requests/${id}/cancel`, {
        method: "POST",
        headers: { Authorization: `Bearer ${stack.keys.agent}`, "Content-Type": "application/json" },
        body: JSON.stringify({ reason: "the agent changed its mind" }),
      });
      expect(res.status).toBe(200);
    });
    const cancelled = await client
      .guard(TRANSFER, act, { onPending: canceller.onPending })
      .catch((e: unknown) => e);
    await canceller.acted();
    expect(cancelled).toBeInstanceOf(PolicyCancelledError);
    expect(cancelled).toMatchObject({ kind: "cancelled", reason: "the agent changed its mind" });

    // The API unreachable: a network error after the bounded retries.
    const nowhere = new PolicyClient({
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      apiKey: "x",
      retries: 1,
    });
    const unreachable = await nowhere.guard(TRANSFER, act).catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(PolicyNetworkError);
    expect(unreachable).toMatchObject({ kind: "network", code: "network_error" });

    expect(ran).toBe(0);
  });

  it("examples/sdk-typescript.ts: files, waits, and acts once an approver approves", async () => {
    const lines: string[] = [];
    const child = spawn(process.execPath, [EXAMPLE], {
      env: {
        ...process.env,
        POLICY_API_URL: stack.api,
        POLICY_AGENT_KEY: stack.keys.agent ?? "",
        POLICY_WAIT_SECONDS: "40",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    example = child;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let approved: Promise<void> | undefined;
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const complete = buffered.split("\n");
      buffered = complete.pop() ?? "";
      for (const line of complete) {
        lines.push(line);
        const waitingFor = /^\[sdk\] waiting .*(apr_[0-9a-f]{16})/.exec(line);
        if (waitingFor?.[1] && !approved) approved = decide(waitingFor[1], "approve", { notes: "ok" });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    const code = await exited;
    const output = lines.join("\n");
    await approved;
    expect(code, output).toBe(0);
    expect(output).toMatch(/\[sdk\] act +transferring \{.*"amount_cents":25000.*\}/);
    expect(output).toMatch(/\[sdk\] done +transfer-/);
    expect(output).not.toContain(stack.keys.agent ?? "no key");
  }, 60_000);

  it("expiry: the request expires undecided while the guard waits, and the action never runs", async () => {
    let ran = false;
    // The API's shortest expiry is 30 s; the test moves expires_at to a second from now in the database
    // (as test/mcp.test.ts does), and the wait's recheck (2 s on this stack) finds it expired on its read.
    const expire = whenWaiting(async (id) => {
      const db = new pg.Client({ connectionString: stack.databaseUrl });
      await db.connect();
      try {
        await db.query(
          "UPDATE approval_requests SET expires_at = now() + interval '1 second' WHERE id = $1",
          [id],
        );
      } finally {
        await db.end();
      }
    });
    const error = await client
      .guard(
        TRANSFER,
        () => {
          ran = true;
        },
        { expiresInSeconds: 30, timeoutMs: 25_000, onPending: expire.onPending },
      )
      .catch((e: unknown) => e);
    await expire.acted();
    expect(error).toBeInstanceOf(PolicyExpiredError);
    expect(error).toMatchObject({ kind: "expired", code: "expired", reason: null });
    expect((error as PolicyExpiredError).decidedBy).toEqual([
      { role: "system", principal_id: null, level: null },
    ]);
    expect(ran).toBe(false);
  }, 30_000);

  it("the committed generated types are what the generator makes of the committed spec copy", async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), "sdk-generated-"));
    try {
      await generateSdkTypes(SDK_SPEC, out);
      const names = readdirSync(out).sort();
      expect(readdirSync(SDK_GENERATED).sort()).toEqual(names);
      for (const name of names) {
        expect(
          readFileSync(path.join(SDK_GENERATED, name), "utf8"),
          `${name} differs: the spec changed and the client was not regenerated (npm run sdk:generate)`,
        ).toBe(readFileSync(path.join(out, name), "utf8"));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

function portOf(server: http.Server): number {
  return (server.address() as net.AddressInfo).port;
}
