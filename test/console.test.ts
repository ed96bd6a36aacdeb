// The approver console's rules, through the worker's fetch handler (the browser tests in
// test/node/console-browser.test.ts drive the same pages in Chromium): sign-in and sessions, CSRF and
// cross-site posts, the same identity, tenant and self-approval rules as the API, escaping.
import { describe, expect, it } from "vitest";
import { form, signIn } from "./helpers/console.ts";
import { testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { fileRequest as fileRequestAs } from "./helpers/requests.ts";

const REQUESTS = "/api/v1/policy/requests";

function fileRequest(agent: TestKey, overrides: Record<string, unknown> = {}) {
  return fileRequestAs(agent, { tenant_id: "console-co", ...overrides });
}

describe("approver console", () => {
  it("signs an approver in with a session cookie (Secure outside localhost), never the key", async () => {
    const approver = await createTestKey("approver", { principalId: "carol" });
    const res = await call("/console/login", form({ api_key: approver.token }));
    const setCookie = res.headers.get("Set-Cookie") ?? "";
    expect(setCookie).not.toContain(approver.token);
    expect(setCookie).toMatch(/Secure/);
    const [session] =
      (await testSql()`SELECT token_hash, key_id FROM console_sessions WHERE key_id = ${approver.keyId}`) as {
        token_hash: string;
      }[];
    expect(session?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(setCookie).not.toContain(session?.token_hash ?? "-");
  });

  it("refuses agent keys, wrong keys and garbage at sign-in", async () => {
    const agent = await createTestKey("agent");
    for (const [key, message] of [
      [agent.token, "Agent keys cannot sign in"],
      [`pak_${agent.keyId}_${"x".repeat(43)}`, "Invalid API key"],
      ["hello", "not an API key"],
    ] as const) {
      const res = await call("/console/login", form({ api_key: key }));
      expect(res.status).toBe(401);
      expect(res.headers.get("Set-Cookie")).toBeNull();
      expect(await res.text()).toContain(message);
    }
  });

  it("shows what the approver may decide, soonest deadline first, and decides with the key's identity", async () => {
    const agent = await createTestKey("agent", { principalId: "bot-inbox" });
    const approver = await createTestKey("approver", { principalId: "dana", maxLevel: 4 });
    const later = await fileRequest(agent, { expires_in_seconds: 3000 });
    const sooner = await fileRequest(agent, { expires_in_seconds: 600 });
    const { cookie, csrf } = await signIn(approver);
    const page = await (await call("/console?tenant=console-co", { headers: { Cookie: cookie } })).text();
    expect(page.indexOf(sooner)).toBeGreaterThan(-1);
    expect(page.indexOf(sooner)).toBeLessThan(page.indexOf(later));

    const decided = await call(
      `/console/requests/${sooner}/decide`,
      form({ _csrf: csrf, decision: "approve", notes: "fine" }, cookie),
    );
    expect(decided.status).toBe(200);
    expect(await decided.text()).toContain("Done: the request is approved");
    const api = (await (await call(`${REQUESTS}/${sooner}`, { headers: approver.headers })).json()) as {
      status: string;
      approvers: { approver_id: string; level: number; via?: string }[];
    };
    expect(api.status).toBe("approved");
    expect(api.approvers).toEqual([
      expect.objectContaining({ approver_id: "dana", level: 4, via: "console" }),
    ]);
    // Gone from the inbox (the fragment the page polls).
    const region = await (
      await call("/console/inbox?tenant=console-co", { headers: { Cookie: cookie } })
    ).text();
    expect(region).not.toContain(sooner);
    expect(region).toContain(later);
  });

  it("refuses a reject without a reason, and explains a lost race instead of failing", async () => {
    const agent = await createTestKey("agent", { principalId: "bot-race" });
    const approver = await createTestKey("approver", { principalId: "erin" });
    const other = await createTestKey("approver", { principalId: "frank" });
    const id = await fileRequest(agent);
    const { cookie, csrf } = await signIn(approver);
    const noReason = await call(
      `/console/requests/${id}/decide`,
      form({ _csrf: csrf, decision: "reject", notes: " " }, cookie),
    );
    expect(noReason.status).toBe(400);
    expect(await noReason.text()).toContain("Give a reason to reject");

    expect((await postJson(`${REQUESTS}/${id}/reject`, { notes: "no" }, other.headers)).status).toBe(200);
    const late = await call(
      `/console/requests/${id}/decide`,
      form({ _csrf: csrf, decision: "approve" }, cookie),
    );
    expect(late.status).toBe(409);
    const text = await late.text();
    expect(text).toContain("Not recorded: The request is already rejected");
    expect(text).toContain("nothing is left to decide");
  });

  it("refuses cross-site posts and posts without the session's CSRF token", async () => {
    const agent = await createTestKey("agent", { principalId: "bot-csrf" });
    const approver = await createTestKey("approver");
    const id = await fileRequest(agent);
    const { cookie, csrf } = await signIn(approver);
    const crossSite = await call(
      `/console/requests/${id}/decide`,
      form({ _csrf: csrf, decision: "approve" }, cookie, "https://evil.example"),
    );
    expect(crossSite.status).toBe(403);
    const noToken = await call(`/console/requests/${id}/decide`, form({ decision: "approve" }, cookie));
    expect(noToken.status).toBe(403);
    const api = (await (await call(`${REQUESTS}/${id}`, { headers: approver.headers })).json()) as {
      status: string;
    };
    expect(api.status).toBe("pending");
  });

  it("applies the API's rules: no self-approval, tenant scope, level", async () => {
    const agent = await createTestKey("agent", { principalId: "bot-self" });
    const self = await createTestKey("approver", { principalId: "bot-self" });
    const elsewhere = await createTestKey("approver", { tenantId: "another-co" });
    const id = await fileRequest(agent);
    const mine = await signIn(self);
    expect(await (await call("/console", { headers: { Cookie: mine.cookie } })).text()).not.toContain(id);
    const refused = await call(
      `/console/requests/${id}/decide`,
      form({ _csrf: mine.csrf, decision: "approve" }, mine.cookie),
    );
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("cannot decide it");
    const other = await signIn(elsewhere);
    expect((await call(`/console/requests/${id}`, { headers: { Cookie: other.cookie } })).status).toBe(404);
  });

  it("shows a payload holding markup as inert text", async () => {
    const agent = await createTestKey("agent", { principalId: "bot-xss" });
    const approver = await createTestKey("approver");
    const id = await fileRequest(agent, {
      payload: { amount: 120, note: "<script>alert(1)</script><img src=x onerror=alert(2)>" },
    });
    const { cookie } = await signIn(approver);
    const res = await call(`/console/requests/${id}`, { headers: { Cookie: cookie } });
    const page = await res.text();
    expect(page).not.toContain("<script>alert(1)</script>");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(res.headers.get("Content-Security-Policy")).toContain("script-src 'self'");
  });

  it("ends the session at sign-out and when its key is revoked", async () => {
    const approver = await createTestKey("approver");
    const signedIn = await signIn(approver);
    const out = await call("/console/logout", form({ _csrf: signedIn.csrf }, signedIn.cookie));
    expect(out.status).toBe(303);
    expect(
      (await call("/console", { headers: { Cookie: signedIn.cookie }, redirect: "manual" })).status,
    ).toBe(303);
    expect((await call("/console/inbox", { headers: { Cookie: signedIn.cookie } })).status).toBe(401);

    const again = await signIn(approver);
    await testSql()`UPDATE api_keys SET revoked_at = now() WHERE id = ${approver.keyId}`;
    expect((await call("/console/inbox", { headers: { Cookie: again.cookie } })).status).toBe(401);
  });

  it("keeps admin pages to admin keys, and key creation shows the secret once", async () => {
    const approver = await createTestKey("approver");
    const admin = await createTestKey("admin");
    const asApprover = await signIn(approver);
    expect((await call("/console/admin", { headers: { Cookie: asApprover.cookie } })).status).toBe(403);
    const asAdmin = await signIn(admin);
    const created = await call(
      "/console/admin/keys",
      form(
        { _csrf: asAdmin.csrf, principal_id: "new-approver", role: "approver", max_level: "3" },
        asAdmin.cookie,
      ),
    );
    expect(created.status).toBe(200);
    const secret = /<pre id="new-key">(pak_[^<]+)<\/pre>/.exec(await created.text())?.[1];
    expect(secret).toMatch(/^pak_[0-9a-f]{16}_/);
    expect(
      (await call("/api/v1/policy/requests", { headers: { Authorization: `Bearer ${secret}` } })).status,
    ).toBe(200);
    const platform = await call(
      "/console/admin/keys",
      form(
        { _csrf: asAdmin.csrf, principal_id: "gateway", role: "agent", agent_ids: "bot-*, billing" },
        asAdmin.cookie,
      ),
    );
    const platformId = /Key <code>([0-9a-f]{16})<\/code> created/.exec(await platform.text())?.[1] ?? "";
    const [row] = (await testSql()`SELECT agent_ids FROM api_keys WHERE id = ${platformId}`) as {
      agent_ids: string[];
    }[];
    expect(row?.agent_ids).toEqual(["bot-*", "billing"]);
    const again = await (await call("/console/admin", { headers: { Cookie: asAdmin.cookie } })).text();
    expect(again).not.toContain(secret ?? "-");
    expect(again).toContain("api_key.create");
  });
});
