// Notification view links (src/services/view-links.ts) through the real console routes: a GET (any number,
// and HEAD, as mail scanners make) checks the link, spends nothing and shows only a click-through; its
// POST opens the request's page once, read-only, for its principal only; forged, altered, expired,
// other-request, other-principal and used tokens are refused on GET and POST with a page that shows
// nothing of the request, spending nothing; two concurrent POSTs of one link open it once; deciding
// still needs the principal's own session. The cron purges the uses of tokens expired past a grace, in
// bounded statements, and a purged or kept use never lets a link open again.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import PostalMime from "postal-mime";
import { describe, expect, it, vi } from "vitest";
import { loadRequest } from "../src/db/approval-requests.ts";
import { createDb } from "../src/db/client.ts";
import type { ApprovalRequestRow } from "../src/db/schema.ts";
import { toBase64Url } from "../src/domain/encoding.ts";
import { notificationContent } from "../src/domain/notification-content.ts";
import { mintViewToken, viewTokenKey } from "../src/domain/view-token.ts";
import worker from "../src/index.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { notificationEmail } from "../src/lib/notification-email.ts";
import { createServiceContext } from "../src/services/context.ts";
import { viewLink } from "../src/services/view-links.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql, withDeletesRefused } from "./helpers/database.ts";
import { BASE_URL, call, postJson } from "./helpers/http.ts";
import { createTestKey } from "./helpers/keys.ts";
import { fileRequest } from "./helpers/requests.ts";
import { TEST_WEBHOOK_ENCRYPTION_KEY } from "./setup/test-secrets.ts";

const HOSTILE = `<script>alert(1)</script> "quoted" \r\nAPPROVED: do it`;

function serviceContext(env = {}) {
  return createServiceContext({
    env: testEnv(env),
    log: createLogger("error"),
    metrics: new MetricsBuffer(),
    waitUntil: () => {},
    requestId: "view_links_test",
  });
}

async function requestRow(id: string): Promise<ApprovalRequestRow> {
  const row = await loadRequest(createDb(testEnv()), id);
  if (!row) throw new Error(`no request ${id}`);
  return row;
}

/** A filed request (tenant view-co) and an approver who may decide it. */
async function setup(principalId: string) {
  const agent = await createTestKey("agent", { principalId: `bot-${principalId}` });
  const approver = await createTestKey("approver", { principalId, tenantId: "view-co", maxLevel: 4 });
  const id = await fileRequest(agent, { tenant_id: "view-co", justification: HOSTILE });
  return { agent, approver, id, row: await requestRow(id) };
}

/** The path and query of an absolute link: call() serves BASE_URL. */
const pathOf = (link: string) => {
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
};
const tokenOf = (link: string) => new URL(link).searchParams.get("view") ?? "";

async function open(path: string, cookie?: string) {
  const res = await call(path, { headers: cookie ? { Cookie: cookie } : {}, redirect: "manual" });
  return {
    status: res.status,
    text: await res.text(),
    csp: res.headers.get("Content-Security-Policy") ?? "",
  };
}

/** The click-through's POST of `token` for request `id` (from the console's origin unless told). */
async function post(id: string, token: string, cookie?: string, origin?: string) {
  const res = await call(`/console/requests/${id}/view`, form({ view: token }, cookie, origin));
  return { status: res.status, text: await res.text() };
}

/** A click-through page: the request's id and a one-button form posting the token, nothing else. */
function expectClickThrough(page: { status: number; text: string }, id: string, token: string) {
  expect(page.status).toBe(200);
  expect(page.text).toContain(`Open request <code>${id}</code>`);
  expect(page.text).toContain(`<form method="post" action="/console/requests/${id}/view"`);
  expect(page.text).toContain(`<input type="hidden" name="view" value="${token}" />`);
  expect(page.text.match(/<button/g)?.length ?? 0).toBeLessThanOrEqual(2); // its button (+ sign-out)
  for (const detail of [
    "payments.transfer",
    "alert(1)",
    "quoted",
    'id="payload"',
    "request-status",
    "Justification",
  ]) {
    expect(page.text).not.toContain(detail);
  }
  expect(page.text).not.toContain('id="view-only"');
}

/** What a person does with a link: GET it, then submit the click-through's form as the page has it. */
async function clickThrough(link: string, cookie?: string) {
  const page = await open(pathOf(link), cookie);
  expectClickThrough(page, new URL(link).pathname.split("/").pop() ?? "", tokenOf(link));
  const action =
    /<form method="post" action="(\/console\/requests\/[^"/]+\/view)"/.exec(page.text)?.[1] ?? "";
  const token = /name="view" value="([^"]+)"/.exec(page.text)?.[1] ?? "";
  const res = await call(action, form({ view: token }, cookie));
  return { status: res.status, text: await res.text() };
}

/** A refusal page: the status, why, and nothing of the request (no click-through either). */
function expectRefused(page: { status: number; text: string }, status: number, why: string, id: string) {
  expect(page.status).toBe(status);
  expect(page.text).toContain(why);
  expect(page.text).not.toContain(id);
  expect(page.text).not.toContain("payments.transfer");
  expect(page.text).not.toContain("alert(1)");
  expect(page.text).not.toContain('name="view"');
}

/** The link refused alike on its GET and its POST (same status and words), spending nothing. */
async function expectRefusedBoth(id: string, token: string, status: number, why: string, cookie?: string) {
  const before = await uses(id);
  expectRefused(
    await open(`/console/requests/${id}?view=${encodeURIComponent(token)}`, cookie),
    status,
    why,
    id,
  );
  expectRefused(await post(id, token, cookie), status, why, id);
  expect(await uses(id)).toBe(before);
}

async function uses(requestId: string): Promise<number> {
  const rows =
    (await testSql()`SELECT count(*)::int AS n FROM view_token_uses WHERE request_id = ${requestId}`) as {
      n: number;
    }[];
  return rows[0]?.n ?? 0;
}

describe("view links", () => {
  it("builds an absolute link on CONSOLE_BASE_URL, compact and URL-safe, a new token each time", async () => {
    const { approver, row } = await setup("vl-build");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    expect(link.startsWith(`http://127.0.0.1:8000/console/requests/${row.id}?view=`)).toBe(true);
    expect(tokenOf(link)).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(tokenOf(link).length).toBeLessThan(250);
    const elsewhere = await viewLink(
      serviceContext({ CONSOLE_BASE_URL: "https://policy.example.com/ignored" }),
      row,
      "x",
    );
    expect(elsewhere.startsWith(`https://policy.example.com/console/requests/${row.id}?view=`)).toBe(true);
    expect(tokenOf(await viewLink(serviceContext(), row, approver.principalId))).not.toBe(tokenOf(link));
  });

  it("spends nothing on GETs and HEADs (mail scanners): they show a click-through with nothing of the request", async () => {
    const { approver, row } = await setup("vl-scan");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    for (let fetch = 0; fetch < 4; fetch++) {
      const head = await call(pathOf(link), { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe("");
      const page = await open(pathOf(link));
      expectClickThrough(page, row.id, tokenOf(link));
      // The page's own form may post to the console: the CSP's form-action allows this origin only.
      expect(page.csp).toContain("form-action 'self'");
    }
    expect(await uses(row.id)).toBe(0);
    // After all that scanning the person's click still opens it.
    expect((await clickThrough(link)).status).toBe(200);
  });

  it("opens the page once on the click-through's POST, read-only, escaped, with a sign-in back to it; then refuses it", async () => {
    const { approver, row } = await setup("vl-once");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const first = await clickThrough(link);
    expect(first.status).toBe(200);
    expect(first.text).toContain(row.id);
    expect(first.text).toContain('id="view-only"');
    expect(first.text).toContain(`href="/console/login?next=/console/requests/${row.id}"`);
    expect(first.text).not.toContain('action="/console/requests/');
    expect(first.text).not.toContain("<script>alert(1)</script>");
    expect(first.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(first.text).not.toContain("Webhook deliveries");
    expect(await uses(row.id)).toBe(1);
    // Used: refused on GET (no click-through any more) and on POST, and nothing more is recorded.
    await expectRefusedBoth(row.id, tokenOf(link), 410, "used already");
    expect(await uses(row.id)).toBe(1);
  });

  it("opens a link exactly once under two concurrent POSTs", async () => {
    const { approver, row } = await setup("vl-race");
    for (let round = 0; round < 3; round++) {
      const link = await viewLink(serviceContext(), row, approver.principalId);
      const pages = await Promise.all([post(row.id, tokenOf(link)), post(row.id, tokenOf(link))]);
      expect(pages.map((page) => page.status).sort()).toEqual([200, 410]);
    }
    expect(await uses(row.id)).toBe(3);
  });

  it("refuses a cross-site POST of a genuine token and a POST without one, spending nothing", async () => {
    const { approver, row } = await setup("vl-csrf");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const crossSite = await post(row.id, tokenOf(link), undefined, "https://evil.example");
    expect(crossSite.status).toBe(403);
    expect(crossSite.text).toContain("Cross-site");
    expect(crossSite.text).not.toContain("payments.transfer");
    const blank = await call(`/console/requests/${row.id}/view`, form({}));
    expect(blank.status).toBe(403);
    expect(await blank.text()).toContain("not valid");
    // The token in the query string is not the form field: it opens nothing.
    const inQuery = await call(`/console/requests/${row.id}/view?view=${tokenOf(link)}`, form({}));
    expect(inQuery.status).toBe(403);
    const json = await call(`/console/requests/${row.id}/view`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: BASE_URL },
      body: JSON.stringify({ view: tokenOf(link) }),
    });
    expect(json.status).toBe(415);
    expect((await post("not an id", tokenOf(link))).status).toBe(404);
    expect(await uses(row.id)).toBe(0);
    expect((await clickThrough(link)).status).toBe(200);
  });

  it("refuses forged, altered, foreign-key and malformed tokens on GET and POST without spending anything", async () => {
    const { approver, row } = await setup("vl-forged");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const [claims, mac] = tokenOf(link).split(".") as [string, string];
    // The claims re-encoded for another principal, the MAC kept: altered.
    const decoded = JSON.parse(atob(claims.replaceAll("-", "+").replaceAll("_", "/"))) as Record<
      string,
      unknown
    >;
    const altered = toBase64Url(new TextEncoder().encode(JSON.stringify({ ...decoded, p: "mallory" })));
    // A token minted under another key: forged.
    const otherKey = await viewTokenKey(toBase64Url(crypto.getRandomValues(new Uint8Array(32))));
    const foreign = await mintViewToken(otherKey, {
      requestId: row.id,
      principalId: approver.principalId,
      expiresAt: row.expiresAt,
    });
    const flipped = `${mac.slice(0, -2)}${mac.endsWith("AA") ? "BB" : "AA"}`;
    for (const token of [
      `${altered}.${mac}`,
      `${claims}.${flipped}`,
      foreign.token,
      "garbage",
      "a.b.c",
      "",
      "x".repeat(600),
    ]) {
      await expectRefusedBoth(row.id, token, 403, "not valid");
    }
    expect(await uses(row.id)).toBe(0);
    // The genuine link still opens.
    expect((await clickThrough(link)).status).toBe(200);
  });

  it("refuses a link on another request's page, and an expired link, on GET and POST", async () => {
    const { approver, row } = await setup("vl-other");
    const other = await setup("vl-other-2");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    await expectRefusedBoth(other.id, tokenOf(link), 403, "not valid");
    const key = await viewTokenKey(TEST_WEBHOOK_ENCRYPTION_KEY);
    const expired = await mintViewToken(key, {
      requestId: row.id,
      principalId: approver.principalId,
      expiresAt: new Date(Date.now() - 1000),
    });
    await expectRefusedBoth(row.id, expired.token, 410, "expired");
    expect(await uses(row.id)).toBe(0);
    expect(await uses(other.id)).toBe(0);
    expect((await clickThrough(link)).status).toBe(200);
  });

  it("does not open principal A's link in principal B's session, nor once A's keys are revoked", async () => {
    const a = await setup("vl-alice");
    const b = await createTestKey("approver", { principalId: "vl-bob", tenantId: "view-co", maxLevel: 4 });
    const link = await viewLink(serviceContext(), a.row, a.approver.principalId);
    const bob = await signIn(b);
    await expectRefusedBoth(a.id, tokenOf(link), 403, "sent to someone else", bob.cookie);
    expect(await uses(a.id)).toBe(0);

    const revoked = await createTestKey("approver", {
      principalId: "vl-gone",
      tenantId: "view-co",
      revoked: true,
    });
    const gone = await viewLink(serviceContext(), a.row, revoked.principalId);
    await expectRefusedBoth(a.id, tokenOf(gone), 403, "not valid");
    const otherTenant = await createTestKey("approver", { principalId: "vl-far", tenantId: "far-co" });
    await expectRefusedBoth(
      a.id,
      tokenOf(await viewLink(serviceContext(), a.row, otherTenant.principalId)),
      403,
      "not valid",
    );
    // Bob's refusal spent nothing: signed out, A's link still opens once.
    expect((await clickThrough(link)).status).toBe(200);
  });

  it("never decides by link alone: deciding needs the principal's session, which the sign-in returns to", async () => {
    const { approver, row } = await setup("vl-decide");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const decide = await call(
      `/console/requests/${row.id}/decide?view=${tokenOf(link)}`,
      form({ decision: "approve" }),
    );
    expect(decide.status).toBe(401);
    // The click-through's POST takes no decision, whatever else it is sent.
    const withDecision = await call(
      `/console/requests/${row.id}/view`,
      form({ view: "garbage", decision: "approve", notes: "x" }),
    );
    expect(withDecision.status).toBe(403);
    expect((await requestRow(row.id)).status).toBe("pending");

    // Signed out, the request page sends to a sign-in that comes back to it, and only to a request page.
    const redirect = await call(`/console/requests/${row.id}`, { redirect: "manual" });
    expect(redirect.headers.get("Location")).toBe(
      `/console/login?next=${encodeURIComponent(`/console/requests/${row.id}`)}`,
    );
    const login = await (await call(`/console/login?next=/console/requests/${row.id}`)).text();
    expect(login).toContain(`name="next" value="/console/requests/${row.id}"`);
    const signedIn = await call(
      "/console/login",
      form({ api_key: approver.token, next: `/console/requests/${row.id}` }),
    );
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get("Location")).toBe(`/console/requests/${row.id}`);
    for (const next of [
      "https://evil.example/",
      "//evil.example",
      "/console/admin",
      `/console/requests/${row.id}/../../admin`,
    ]) {
      const elsewhere = await call("/console/login", form({ api_key: approver.token, next }));
      expect(elsewhere.headers.get("Location")).toBe("/console");
    }

    // Signed in as the link's principal, the click-through opens the full page, and deciding goes through the session.
    const session = await signIn(approver);
    const page = await clickThrough(link, session.cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`action="/console/requests/${row.id}/decide"`);
    expect(await uses(row.id)).toBe(1);
    const decided = await call(
      `/console/requests/${row.id}/decide`,
      form({ _csrf: session.csrf, decision: "approve", notes: "ok" }, session.cookie),
    );
    expect(decided.status).toBe(200);
    expect((await requestRow(row.id)).status).toBe("approved");
  });

  it("carries the link through an email intact: the link read back from the message opens the page (GET, then POST)", async () => {
    const { approver, row } = await setup("vl-mail");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const content = notificationContent(row, "approval_needed", { principalId: approver.principalId }, link);
    const email = notificationEmail(content, {
      from: { addr: "approvals@policy.example.com" },
      to: "vl@example.com",
    });
    const parsed = await PostalMime.parse(email.raw);
    const fromText = /Open the request: (\S+)/.exec(parsed.text ?? "")?.[1] ?? "";
    const fromHtml = (/href="([^"]+)"/.exec(parsed.html ?? "")?.[1] ?? "").replaceAll("&amp;", "&");
    expect(fromText).toBe(link);
    expect(fromHtml).toBe(link);
    // A scanner fetches both before the person clicks: nothing is spent.
    expectClickThrough(await open(pathOf(fromHtml)), row.id, tokenOf(link));
    expectClickThrough(await open(pathOf(fromText)), row.id, tokenOf(link));
    expect(await uses(row.id)).toBe(0);
    expect((await clickThrough(fromText)).status).toBe(200);
    expectRefused(await open(pathOf(fromHtml)), 410, "used already", row.id);
    expectRefused(await post(row.id, tokenOf(fromHtml)), 410, "used already", row.id);
  });

  it("keeps the request's data out of the API: the link is a console page only", async () => {
    const { approver, row } = await setup("vl-api");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const api = await postJson(`/api/v1/policy/requests/${row.id}/approve?view=${tokenOf(link)}`, {
      notes: "x",
    });
    expect(api.status).toBe(401);
    expect((await requestRow(row.id)).status).toBe("pending");
  });
});

/** As src/services/view-links.ts has them: rows per purge statement, statements per run, the grace. */
const PURGE_BATCH = 1000;
const PURGE_MAX_BATCHES = 5;
const PURGE_GRACE_MS = 5 * 60 * 1000;

/** Runs the cron (worker.scheduled) once at `clock` (the job's clock is max(now, clock)); its log lines. */
async function runCron(clock = Date.now()): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ cron: "* * * * *", scheduledTime: clock }),
      testEnv({ LOG_LEVEL: "info" }),
      ctx,
    );
    await waitOnExecutionContext(ctx);
  } finally {
    spy.mockRestore();
  }
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Inserts `count` uses of unknown tokens for `requestId`, their tokens expired `expired` ago. */
async function insertUses(requestId: string, count: number, expired: "1 hour" | "1 minute") {
  await testSql()`INSERT INTO view_token_uses (jti, request_id, principal_id, used_at, expires_at)
    SELECT md5(${requestId} || g || random()), ${requestId}, 'purge-someone', now() - interval '2 hours',
      now() - ${expired}::interval
    FROM generate_series(1, ${count}) AS g`;
}

describe("purging the uses of expired view tokens (cron)", () => {
  it("deletes uses expired past the grace in bounded statements, keeps the rest; a used link stays used", async () => {
    const { approver, row } = await setup("vl-purge");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    expect((await clickThrough(link)).status).toBe(200);
    await insertUses("purge-old", PURGE_BATCH * PURGE_MAX_BATCHES + 100, "1 hour");
    await insertUses("purge-grace", 20, "1 minute");

    const first = await runCron();
    expect(first.find((line) => line.msg === "view_token_uses_purged")).toMatchObject({
      level: "info",
      purged: PURGE_BATCH * PURGE_MAX_BATCHES,
      batches: PURGE_MAX_BATCHES,
    });
    expect(await uses("purge-old")).toBe(100);
    expect(await uses("purge-grace")).toBe(20);
    expect(await uses(row.id)).toBe(1);

    const second = await runCron();
    expect(second.find((line) => line.msg === "view_token_uses_purged")).toMatchObject({
      purged: 100,
      batches: 1,
    });
    expect(await uses("purge-old")).toBe(0);
    expect(await uses("purge-grace")).toBe(20);
    expect(await uses(row.id)).toBe(1);
    // Nothing left to purge: no line.
    expect((await runCron()).find((line) => line.msg === "view_token_uses_purged")).toBeUndefined();
    // The used, unexpired link kept its use: still refused as used, on GET and POST.
    await expectRefusedBoth(row.id, tokenOf(link), 410, "used already");
  });

  it("refuses a used link as expired once it expires, before and after the purge deletes its use", async () => {
    const { approver, row } = await setup("vl-purged");
    const key = await viewTokenKey(TEST_WEBHOOK_ENCRYPTION_KEY);
    const expiresAt = new Date(Date.now() + 3000);
    const { token } = await mintViewToken(key, {
      requestId: row.id,
      principalId: approver.principalId,
      expiresAt,
    });
    expect((await post(row.id, token)).status).toBe(200);
    expect(await uses(row.id)).toBe(1);
    // The token carries its expiry in whole seconds.
    const expiry = Math.floor(expiresAt.getTime() / 1000) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry - Date.now()) + 200));
    await expectRefusedBoth(row.id, token, 410, "expired");
    // Within the grace the use is kept; past it the purge deletes it.
    await runCron();
    expect(await uses(row.id)).toBe(1);
    await runCron(Date.now() + PURGE_GRACE_MS + 60_000);
    expect(await uses(row.id)).toBe(0);
    // Its use gone, the link is still refused (as expired, checked first), and nothing is recorded again.
    await expectRefusedBoth(row.id, token, 410, "expired");
    expect(await uses(row.id)).toBe(0);
  });

  it("logs a failed purge apart: the other jobs still run and the run does not fail", async () => {
    await withDeletesRefused("view_token_uses", async () => {
      await insertUses("purge-refused", 3, "1 hour");
      const lines = await runCron();
      expect(lines.find((line) => line.msg === "view_token_uses_purge_failed")).toMatchObject({
        level: "error",
      });
      expect(lines.find((line) => line.msg === "escalation_run")).toBeDefined();
      expect(lines.find((line) => line.msg === "escalation_run_failed")).toBeUndefined();
      expect(lines.find((line) => line.msg === "console_sessions_purge_failed")).toBeUndefined();
      expect(await uses("purge-refused")).toBe(3);
    });
    // Lifted, the next run purges them.
    await runCron();
    expect(await uses("purge-refused")).toBe(0);
  });
});
