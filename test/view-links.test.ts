// Notification view links (src/services/view-links.ts) through the real console route: a link opens its
// request's page once, read-only, for its principal only; forged, altered, expired, other-request,
// other-principal and used tokens are refused with a page that shows nothing of the request; two
// concurrent opens of one link open it once; deciding still needs the principal's own session.
import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { loadRequest } from "../src/db/approval-requests.ts";
import { createDb } from "../src/db/client.ts";
import type { ApprovalRequestRow } from "../src/db/schema.ts";
import { toBase64Url } from "../src/domain/encoding.ts";
import { notificationContent } from "../src/domain/notification-content.ts";
import { mintViewToken, viewTokenKey } from "../src/domain/view-token.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { notificationEmail } from "../src/lib/notification-email.ts";
import { createServiceContext } from "../src/services/context.ts";
import { viewLink } from "../src/services/view-links.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
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
  return { status: res.status, text: await res.text() };
}

/** A refusal page: the status, why, and nothing of the request. */
function expectRefused(page: { status: number; text: string }, status: number, why: string, id: string) {
  expect(page.status).toBe(status);
  expect(page.text).toContain(why);
  expect(page.text).not.toContain(id);
  expect(page.text).not.toContain("payments.transfer");
  expect(page.text).not.toContain("alert(1)");
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

  it("opens the page once (a HEAD spends nothing), read-only, escaped, with a sign-in back to it; then refuses it", async () => {
    const { approver, row } = await setup("vl-once");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const head = await call(pathOf(link), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(await uses(row.id)).toBe(0);
    const first = await open(pathOf(link));
    expect(first.status).toBe(200);
    expect(first.text).toContain(row.id);
    expect(first.text).toContain('id="view-only"');
    expect(first.text).toContain(`href="/console/login?next=/console/requests/${row.id}"`);
    expect(first.text).not.toContain('action="/console/requests/');
    expect(first.text).not.toContain("<script>alert(1)</script>");
    expect(first.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(first.text).not.toContain("Webhook deliveries");
    expectRefused(await open(pathOf(link)), 410, "used already", row.id);
    expect(await uses(row.id)).toBe(1);
  });

  it("opens a link exactly once under two concurrent opens", async () => {
    const { approver, row } = await setup("vl-race");
    for (let round = 0; round < 3; round++) {
      const link = await viewLink(serviceContext(), row, approver.principalId);
      const pages = await Promise.all([open(pathOf(link)), open(pathOf(link))]);
      expect(pages.map((page) => page.status).sort()).toEqual([200, 410]);
    }
    expect(await uses(row.id)).toBe(3);
  });

  it("refuses forged, altered, foreign-key and malformed tokens without spending anything", async () => {
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
      expectRefused(
        await open(`/console/requests/${row.id}?view=${encodeURIComponent(token)}`),
        403,
        "not valid",
        row.id,
      );
    }
    expect(await uses(row.id)).toBe(0);
    // The genuine link still opens.
    expect((await open(pathOf(link))).status).toBe(200);
  });

  it("refuses a link on another request's page, and an expired link", async () => {
    const { approver, row } = await setup("vl-other");
    const other = await setup("vl-other-2");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    expectRefused(
      await open(`/console/requests/${other.id}?view=${tokenOf(link)}`),
      403,
      "not valid",
      other.id,
    );
    const key = await viewTokenKey(TEST_WEBHOOK_ENCRYPTION_KEY);
    const expired = await mintViewToken(key, {
      requestId: row.id,
      principalId: approver.principalId,
      expiresAt: new Date(Date.now() - 1000),
    });
    expectRefused(await open(`/console/requests/${row.id}?view=${expired.token}`), 410, "expired", row.id);
    expect(await uses(row.id)).toBe(0);
    expect((await open(pathOf(link))).status).toBe(200);
  });

  it("does not open principal A's link in principal B's session, nor once A's keys are revoked", async () => {
    const a = await setup("vl-alice");
    const b = await createTestKey("approver", { principalId: "vl-bob", tenantId: "view-co", maxLevel: 4 });
    const link = await viewLink(serviceContext(), a.row, a.approver.principalId);
    const bob = await signIn(b);
    expectRefused(await open(pathOf(link), bob.cookie), 403, "sent to someone else", a.id);
    expect(await uses(a.id)).toBe(0);

    const revoked = await createTestKey("approver", {
      principalId: "vl-gone",
      tenantId: "view-co",
      revoked: true,
    });
    const gone = await viewLink(serviceContext(), a.row, revoked.principalId);
    expectRefused(await open(pathOf(gone)), 403, "not valid", a.id);
    const otherTenant = await createTestKey("approver", { principalId: "vl-far", tenantId: "far-co" });
    expectRefused(
      await open(pathOf(await viewLink(serviceContext(), a.row, otherTenant.principalId))),
      403,
      "not valid",
      a.id,
    );
  });

  it("never decides by link alone: deciding needs the principal's session, which the sign-in returns to", async () => {
    const { approver, row } = await setup("vl-decide");
    const link = await viewLink(serviceContext(), row, approver.principalId);
    const decide = await call(
      `/console/requests/${row.id}/decide?view=${tokenOf(link)}`,
      form({ decision: "approve" }),
    );
    expect(decide.status).toBe(401);
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

    // Signed in as the link's principal, the link opens the full page, and deciding goes through the session.
    const session = await signIn(approver);
    const page = await open(pathOf(link), session.cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`action="/console/requests/${row.id}/decide"`);
    const decided = await call(
      `/console/requests/${row.id}/decide`,
      form({ _csrf: session.csrf, decision: "approve", notes: "ok" }, session.cookie),
    );
    expect(decided.status).toBe(200);
    expect((await requestRow(row.id)).status).toBe("approved");
  });

  it("carries the link through an email intact: the link read back from the message opens the page", async () => {
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
    expect((await open(pathOf(fromText))).status).toBe(200);
    expect((await open(pathOf(fromHtml))).status).toBe(410);
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
