// Issue 23, the console's edges, each attack performed through the worker's routes: sign-in flooding
// (per key and per client address limits, failures counted, live sessions capped per key, ended
// sessions purged by the cron in bounded batches), bodies that are not forms, a below-level approver
// told what their action did, HTML error pages raised before the console's routes, and the session
// cookie's __Host- prefix wherever it is Secure.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { addressBucket } from "../src/domain/rate-limits.ts";
import worker from "../src/index.ts";
import { callAt, cookieOf, form, signIn } from "./helpers/console.ts";
import { testEnv, testSql, withDeletesRefused } from "./helpers/database.ts";
import { BASE_URL, call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";
import { fileRequest } from "./helpers/requests.ts";

/** As wrangler.toml deploys them (test/node/rate-limit-config.test.ts holds the code and docs to it). */
const SIGN_INS_PER_KEY = 10;
const SIGN_INS_PER_ADDRESS = 30;
/** Live sessions one key may hold; signing in beyond it signs the oldest out. */
const SESSIONS_PER_KEY = 5;
/** Ended sessions one cron run deletes at most. */
const PURGE_BATCH = 1000;

/** A client address no other test uses (the address limiter counts per address across the file). */
function address(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(2));
  return `198.51.${bytes[0]}.${bytes[1]}`;
}

function signInFrom(ip: string | undefined, apiKey: string, overrides = {}) {
  const init = form({ api_key: apiKey });
  if (ip) init.headers["CF-Connecting-IP"] = ip;
  return call("/console/login", init, overrides);
}

/** Every line the worker logged while `work` ran. */
async function logsOf(work: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function liveSessions(key: TestKey): Promise<number> {
  const [row] = (await testSql()`SELECT count(*)::int AS n FROM console_sessions
    WHERE key_id = ${key.keyId} AND revoked_at IS NULL AND expires_at > now()`) as { n: number }[];
  return row?.n ?? 0;
}

async function endedSessions(): Promise<number> {
  const [row] = (await testSql()`SELECT count(*)::int AS n FROM console_sessions
    WHERE revoked_at IS NOT NULL OR expires_at <= now()`) as { n: number }[];
  return row?.n ?? 0;
}

async function runCron(): Promise<Record<string, unknown>[]> {
  return logsOf(async () => {
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }),
      testEnv({ LOG_LEVEL: "info" }),
      ctx,
    );
    await waitOnExecutionContext(ctx);
  });
}

function expectPageHeaders(res: Response, what: string) {
  expect(res.headers.get("Content-Type"), what).toMatch(/^text\/html/);
  expect(res.headers.get("Content-Security-Policy"), what).toContain("frame-ancestors 'none'");
  expect(res.headers.get("X-Frame-Options"), what).toBe("DENY");
  expect(res.headers.get("Cache-Control"), what).toBe("no-store");
  expect(res.headers.get("X-Content-Type-Options"), what).toBe("nosniff");
}

describe("sign-in flooding (finding 3)", () => {
  it("limits sign-ins per key: the 11th in a minute is a 429 page with Retry-After, and opens no session", async () => {
    const approver = await createTestKey("approver");
    const statuses: number[] = [];
    for (let i = 0; i < SIGN_INS_PER_KEY; i++)
      statuses.push((await signInFrom(undefined, approver.token)).status);
    expect(statuses).toEqual(Array(SIGN_INS_PER_KEY).fill(303));
    const [before] =
      (await testSql()`SELECT count(*)::int AS n FROM console_sessions WHERE key_id = ${approver.keyId}`) as {
        n: number;
      }[];

    const refused = await signInFrom(undefined, approver.token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toBe("60");
    expect(refused.headers.get("Set-Cookie")).toBeNull();
    expectPageHeaders(refused, "429");
    expect(await refused.text()).toContain("Too many sign-ins with this API key");
    const [after] =
      (await testSql()`SELECT count(*)::int AS n FROM console_sessions WHERE key_id = ${approver.keyId}`) as {
        n: number;
      }[];
    expect(after?.n).toBe(before?.n);
  });

  it("cannot be spent on a key by a caller who knows its id but not its secret", async () => {
    const approver = await createTestKey("approver");
    for (let i = 0; i < SIGN_INS_PER_KEY + 5; i++) {
      expect((await signInFrom(undefined, `pak_${approver.keyId}_${"x".repeat(43)}`)).status).toBe(401);
    }
    expect((await signInFrom(undefined, approver.token)).status).toBe(303);
  });

  it("limits sign-ins per client address (CF-Connecting-IP), garbage included; other addresses go on", async () => {
    const flooder = address();
    const dataset = recordingDataset();
    for (let i = 0; i < SIGN_INS_PER_ADDRESS; i++) {
      expect((await signInFrom(flooder, "hello", { METRICS: dataset })).status).toBe(401);
    }
    const approver = await createTestKey("approver");
    const refused = await signInFrom(flooder, approver.token, { METRICS: dataset });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toBe("60");
    expect(await refused.text()).toContain("Too many sign-ins from this address");
    expect((await signInFrom(address(), approver.token)).status).toBe(303);
    expect(dataset.totals()["nova_rate_limited_total{limiter=console_sign_in_address}"]).toBe(1);
  });

  it("counts an IPv6 client by its /64: rotating addresses within it buys nothing", async () => {
    const hex = () => crypto.getRandomValues(new Uint16Array(1))[0]?.toString(16) ?? "0";
    const network = `2001:db8:${hex()}:${hex()}`;
    for (let i = 1; i <= SIGN_INS_PER_ADDRESS; i++) {
      expect((await signInFrom(`${network}::${i.toString(16)}`, "hello")).status).toBe(401);
    }
    expect((await signInFrom(`${network}:0:0:0:ffff`, "hello")).status).toBe(429);
    expect((await signInFrom(`2001:db8:${hex()}:${hex()}::1`, "hello")).status).toBe(401);
    expect(
      ["2001:DB8::1", "2001:db8:a:b:c:d:e:f", "2001:0db8:000a::", "::ffff:192.0.2.1", "192.0.2.1"].map(
        addressBucket,
      ),
    ).toEqual(["2001:db8:0:0::/64", "2001:db8:a:b::/64", "2001:db8:a:0::/64", "192.0.2.1", "192.0.2.1"]);
  });

  it("counts refused sign-ins as nova_console_sign_in_failures_total{reason}", async () => {
    const agent = await createTestKey("agent");
    const revoked = await createTestKey("approver", { revoked: true });
    const dataset = recordingDataset();
    for (const key of [
      agent.token,
      agent.token,
      `pak_${agent.keyId}_${"x".repeat(43)}`,
      "hello",
      revoked.token,
    ]) {
      expect((await signInFrom(undefined, key, { METRICS: dataset })).status).toBe(401);
    }
    const totals = dataset.totals();
    expect(totals["nova_console_sign_in_failures_total{reason=agent}"]).toBe(2);
    expect(totals["nova_console_sign_in_failures_total{reason=unknown}"]).toBe(1);
    expect(totals["nova_console_sign_in_failures_total{reason=malformed}"]).toBe(1);
    expect(totals["nova_console_sign_in_failures_total{reason=revoked}"]).toBe(1);
  });

  it("caps a key's live sessions: signing in beyond the cap signs the oldest out", async () => {
    const approver = await createTestKey("approver");
    const cookies: string[] = [];
    for (let i = 0; i < SESSIONS_PER_KEY + 2; i++) {
      const res = await signInFrom(undefined, approver.token);
      expect(res.status).toBe(303);
      cookies.push(cookieOf(res));
    }
    expect(await liveSessions(approver)).toBe(SESSIONS_PER_KEY);
    const inbox = async (cookie: string) =>
      (await call("/console/inbox", { headers: { Cookie: cookie } })).status;
    expect(await inbox(cookies[0] ?? "")).toBe(401);
    expect(await inbox(cookies[1] ?? "")).toBe(401);
    for (const cookie of cookies.slice(2)) expect(await inbox(cookie)).toBe(200);
  });

  it("purges ended sessions in the cron, a bounded batch per run, and keeps live ones", async () => {
    const approver = await createTestKey("approver");
    await signIn(approver);
    await testSql()`INSERT INTO console_sessions (token_hash, key_id, created_at, expires_at, revoked_at)
      SELECT md5('expired' || g || random()), ${approver.keyId}, now() - interval '9 hours', now() - interval '1 hour', NULL
      FROM generate_series(1, 1100) AS g`;
    await testSql()`INSERT INTO console_sessions (token_hash, key_id, expires_at, revoked_at)
      SELECT md5('signed-out' || g || random()), ${approver.keyId}, now() + interval '1 hour', now()
      FROM generate_series(1, 50) AS g`;
    const ended = await endedSessions();
    expect(ended).toBeGreaterThanOrEqual(1150);

    const first = await runCron();
    expect(await endedSessions()).toBe(ended - PURGE_BATCH);
    expect(first.find((line) => line.msg === "console_sessions_purged")).toMatchObject({
      purged: PURGE_BATCH,
    });
    expect(await liveSessions(approver)).toBe(1);

    await runCron();
    expect(await endedSessions()).toBe(0);
    expect(await liveSessions(approver)).toBe(1);
  });

  it("logs a failed purge apart: the escalation run still runs and does not fail", async () => {
    await withDeletesRefused("console_sessions", async () => {
      const approver = await createTestKey("approver");
      await testSql()`INSERT INTO console_sessions (token_hash, key_id, expires_at)
        VALUES (md5('old' || random()), ${approver.keyId}, now() - interval '1 hour')`;
      const lines = await runCron();
      expect(lines.find((line) => line.msg === "console_sessions_purge_failed")).toMatchObject({
        level: "error",
      });
      expect(lines.find((line) => line.msg === "escalation_run")).toBeDefined();
      expect(lines.find((line) => line.msg === "escalation_run_failed")).toBeUndefined();
    });
  });
});

describe("bodies that are not forms (finding 5)", () => {
  const notMultipart = (type = "multipart/form-data; boundary=----x") => ({
    "Content-Type": type,
    Origin: BASE_URL,
  });

  it("answers POST /console/login with a broken multipart body as a 400 page, never a 500", async () => {
    const cases: [string, Record<string, string>, string, number][] = [
      ["multipart, body not multipart", notMultipart(), "api_key=hello", 400],
      ["multipart without a boundary", notMultipart("multipart/form-data"), "api_key=hello", 400],
      [
        "multipart cut short",
        notMultipart(),
        '------x\r\nContent-Disposition: form-data; name="api_key"\r\n\r\npak',
        400,
      ],
      ["JSON", { "Content-Type": "application/json", Origin: BASE_URL }, '{"api_key":"hello"}', 415],
      ["plain text", { "Content-Type": "text/plain", Origin: BASE_URL }, "api_key=hello", 415],
    ];
    const lines = await logsOf(async () => {
      for (const [what, headers, body, status] of cases) {
        const res = await call("/console/login", { method: "POST", headers, body });
        expect(res.status, what).toBe(status);
        expectPageHeaders(res, what);
        expect(await res.text(), what).toMatch(/<h1>Refused<\/h1>/);
      }
    });
    expect(lines.filter((line) => line.msg === "unhandled_error")).toEqual([]);
  });

  it("still takes a well-formed multipart sign-in", async () => {
    const approver = await createTestKey("approver");
    const body = new FormData();
    body.set("api_key", approver.token);
    const res = await call("/console/login", {
      method: "POST",
      headers: { Origin: BASE_URL },
      body,
      redirect: "manual",
    });
    expect(res.status).toBe(303);
  });

  it("answers every signed-in console post with a broken body as a 400 page", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const id = await fileRequest(agent);
    const { cookie } = await signIn(admin);
    const lines = await logsOf(async () => {
      for (const path of [
        "/console/logout",
        `/console/requests/${id}/decide`,
        "/console/admin/switches",
        "/console/admin/keys",
        `/console/admin/keys/${admin.keyId}/revoke`,
      ]) {
        const res = await call(path, {
          method: "POST",
          headers: { ...notMultipart(), Cookie: cookie },
          body: "x",
        });
        expect(res.status, path).toBe(400);
        expectPageHeaders(res, path);
        const json = await call(path, {
          method: "POST",
          headers: { "Content-Type": "application/json", Origin: BASE_URL, Cookie: cookie },
          body: "{}",
        });
        expect(json.status, path).toBe(415);
      }
    });
    expect(lines.filter((line) => line.msg === "unhandled_error")).toEqual([]);
    // Nothing was done: the session is live and the request still pending.
    expect((await call("/console/inbox", { headers: { Cookie: cookie } })).status).toBe(200);
    const read = await call(`/api/v1/policy/requests/${id}`, { headers: admin.headers });
    expect(((await read.json()) as { status: string }).status).toBe("pending");
  });
});

describe("a below-level approver is told what happened (finding 7)", () => {
  async function decide(approver: TestKey, id: string, decision: string, notes: string) {
    const { cookie, csrf } = await signIn(approver);
    return call(`/console/requests/${id}/decide`, form({ _csrf: csrf, decision, notes }, cookie));
  }

  it("says an approval below the request's level was kept as a note and counted for nothing", async () => {
    const agent = await createTestKey("agent");
    const junior = await createTestKey("approver", { maxLevel: 2 });
    const id = await fileRequest(agent);
    const res = await decide(junior, id, "approve", "looks fine to me");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain("Your approval is recorded");
    expect(text).toContain(
      "Not counted: your level (2) is below the level this request needs (3), so your approval was kept as a note only. The request is still pending.",
    );
    const read = (await (
      await call(`/api/v1/policy/requests/${id}`, { headers: junior.headers })
    ).json()) as {
      status: string;
      approvers: { action: string }[];
    };
    expect(read).toMatchObject({ status: "pending", approvers: [{ action: "note" }] });

    const rejected = await (await decide(junior, id, "reject", "no")).text();
    expect(rejected).toContain(
      "Not counted: your level (2) is below the level this request needs (3), so your rejection",
    );
  });

  it("says how far a counted approval of an M-of-N request got", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const approver = await createTestKey("approver", { maxLevel: 3 });
    const tenant = `mofn-${crypto.randomUUID().slice(0, 8)}`;
    const policy = await postJson(
      "/api/v1/admin/policies/approval-levels",
      { policy_type: "cost", tenant_id: tenant, approval_level: "agent_approve", required_approvals: 2 },
      admin.headers,
    );
    expect(policy.status).toBe(201);
    const id = await fileRequest(agent, { tenant_id: tenant });
    const text = await (await decide(approver, id, "approve", "fine")).text();
    expect(text).toContain("Your approval counts: 1 of 2 approvals needed. The request is still pending.");
  });
});

describe("HTML error pages raised before the console's routes (finding 9)", () => {
  it("carry the console's headers: 414, 431, 413, 404, and /docs", async () => {
    const cases: [string, Promise<Response>, number][] = [
      ["414", call(`/console?${"a".repeat(9000)}`), 414],
      ["431", call("/console", { headers: { "X-Padding": "p".repeat(17 * 1024) } }), 431],
      [
        "413",
        call("/console/login", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: BASE_URL },
          body: `api_key=${"k".repeat(300 * 1024)}`,
        }),
        413,
      ],
      ["404", call("/console/no-such-page"), 404],
    ];
    for (const [what, pending, status] of cases) {
      const res = await pending;
      expect(res.status, what).toBe(status);
      expectPageHeaders(res, what);
    }
    // The API reference is HTML too: it keeps its own policy and caching, and may not be framed.
    const docs = await call("/docs");
    expect(docs.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");
    expect(docs.headers.get("X-Frame-Options")).toBe("DENY");
    expect(docs.headers.get("Cache-Control")).toBe("public, max-age=300");
  });
});

describe("the session cookie's __Host- prefix wherever it is Secure", () => {
  it("is __Host-policy_console (Secure, Path=/, no Domain) on https and every other non-loopback origin", async () => {
    for (const origin of ["https://policy.example", BASE_URL]) {
      const approver = await createTestKey("approver");
      const res = await callAt(
        `${origin}/console/login`,
        form({ api_key: approver.token }, undefined, origin),
      );
      expect(res.status, origin).toBe(303);
      const setCookie = res.headers.get("Set-Cookie") ?? "";
      expect(setCookie, origin).toMatch(/^__Host-policy_console=[A-Za-z0-9_-]{43};/);
      expect(setCookie, origin).toMatch(/; Path=\/(;|$)/);
      expect(setCookie, origin).toMatch(/; Secure(;|$)/);
      expect(setCookie, origin).toMatch(/; HttpOnly(;|$)/);
      expect(setCookie, origin).toMatch(/; SameSite=Strict(;|$)/);
      expect(setCookie, origin).not.toMatch(/Domain=/i);
      const inbox = await callAt(`${origin}/console`, { headers: { Cookie: cookieOf(res) } });
      expect(inbox.status, origin).toBe(200);
    }
  });

  it("refuses a session token in the unprefixed cookie on a Secure origin (a tossed cookie)", async () => {
    const origin = "https://policy.example";
    const approver = await createTestKey("approver");
    const res = await callAt(`${origin}/console/login`, form({ api_key: approver.token }, undefined, origin));
    const token = cookieOf(res).split("=")[1] ?? "";
    const tossed = await callAt(`${origin}/console`, {
      headers: { Cookie: `policy_console=${token}` },
      redirect: "manual",
    });
    expect(tossed.status).toBe(303);
    expect(tossed.headers.get("Location")).toBe("/console/login");
  });

  it("is the plain policy_console, not Secure, scoped to /console, on http://localhost for npm run dev", async () => {
    for (const origin of ["http://127.0.0.1:8000", "http://localhost:8000"]) {
      const approver = await createTestKey("approver");
      const res = await callAt(
        `${origin}/console/login`,
        form({ api_key: approver.token }, undefined, origin),
      );
      expect(res.status, origin).toBe(303);
      const setCookie = res.headers.get("Set-Cookie") ?? "";
      expect(setCookie, origin).toMatch(/^policy_console=[A-Za-z0-9_-]{43};/);
      expect(setCookie, origin).toMatch(/; Path=\/console(;|$)/);
      expect(setCookie, origin).not.toMatch(/Secure/);
      expect((await callAt(`${origin}/console`, { headers: { Cookie: cookieOf(res) } })).status, origin).toBe(
        200,
      );
    }
  });

  it("signs out by clearing the cookie it set", async () => {
    const origin = "https://policy.example";
    const approver = await createTestKey("approver");
    const res = await callAt(`${origin}/console/login`, form({ api_key: approver.token }, undefined, origin));
    const cookie = cookieOf(res);
    const page = await (await callAt(`${origin}/console`, { headers: { Cookie: cookie } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";
    const out = await callAt(`${origin}/console/logout`, form({ _csrf: csrf }, cookie, origin));
    expect(out.status).toBe(303);
    expect(out.headers.get("Set-Cookie")).toMatch(/^__Host-policy_console=; Max-Age=0; Path=\/; Secure/);
  });
});
