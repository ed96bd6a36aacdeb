// The console inbox's long-queue features through the worker: keyset paging that neither repeats nor
// skips while requests arrive, search (ids, agents, skills, text with LIKE wildcards taken literally),
// sorts, counts over the whole match, the key's tenant scope and level, and bulk decisions decided one
// by one through the single-decision service (mixed outcomes). Bad cursors and hostile search text are
// 4xx or empty, never 500. test/node/console-mobile.test.ts drives the same pages in Chromium.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { encodeInboxCursor } from "../src/services/approver-inbox.ts";
import { form, signIn } from "./helpers/console.ts";
import { testSql } from "./helpers/database.ts";
import { call } from "./helpers/http.ts";
import { seedPendingSql } from "./helpers/inbox-seed.ts";
import { createTestKey } from "./helpers/keys.ts";

async function seed(tenant: string, count: number, options: Parameters<typeof seedPendingSql>[2] = {}) {
  const { text, params } = seedPendingSql(tenant, count, options);
  return ((await testSql().query(text, params)) as { id: string }[]).map((row) => row.id);
}

const unescapeHref = (href: string) => href.replaceAll("&amp;", "&");

/** One inbox region read: its request ids in order, its pager links, and the counts line. */
async function region(cookie: string, query: string) {
  const res = await call(`/console/inbox?${query}`, { headers: { Cookie: cookie } });
  const text = await res.text();
  return {
    status: res.status,
    text,
    ids: [...text.matchAll(/<tr data-request-id="(apr_[0-9a-f]{16})"/g)].map((m) => m[1] as string),
    next: /href="([^"]+)" rel="next"/.exec(text)?.[1],
    previous: /href="([^"]+)" rel="prev"/.exec(text)?.[1],
    total: Number(/(\d+) for you to decide/.exec(text)?.[1] ?? "-1"),
  };
}

const queryOf = (href: string) => unescapeHref(href).replace(/^\/console\??/, "");

describe("console inbox: paging, search, sorting", () => {
  it("pages through every request once, in each sort, while new ones arrive between pages", async () => {
    const tenant = "page-co";
    const seeded = await seed(tenant, 160);
    const approver = await createTestKey("approver", { principalId: "pager", maxLevel: 3 });
    const { cookie } = await signIn(approver);
    for (const sort of ["deadline", "oldest", "newest"]) {
      const seen: string[] = [];
      let query = `tenant=${tenant}&sort=${sort}`;
      for (let pages = 0; pages < 20; pages++) {
        const page = await region(cookie, query);
        expect(page.status).toBe(200);
        seen.push(...page.ids);
        // New requests arrive between two reads, some sorting before the cursor, some after.
        await seed(tenant, 3);
        if (!page.next) break;
        query = queryOf(page.next);
      }
      expect(new Set(seen).size, `${sort}: no duplicates`).toBe(seen.length);
      const missing = seeded.filter((id) => !seen.includes(id));
      expect(missing, `${sort}: no gaps`).toEqual([]);
    }
  });

  it("goes back a page to the same requests, and counts the whole match, not the page", async () => {
    const tenant = "back-co";
    await seed(tenant, 120);
    const approver = await createTestKey("approver", { principalId: "backer", maxLevel: 3 });
    const { cookie } = await signIn(approver);
    const first = await region(cookie, `tenant=${tenant}`);
    expect(first.ids).toHaveLength(50);
    expect(first.total).toBe(120);
    expect(first.previous).toBeUndefined();
    const second = await region(cookie, queryOf(first.next ?? ""));
    expect(second.ids).toHaveLength(50);
    expect(second.total).toBe(120);
    const back = await region(cookie, queryOf(second.previous ?? ""));
    expect(back.ids).toEqual(first.ids);
    const third = await region(cookie, queryOf(second.next ?? ""));
    expect(third.ids).toHaveLength(20);
    expect(third.next).toBeUndefined();
    // Soonest deadline first, across pages.
    const rows = (await testSql().query(
      "SELECT id FROM approval_requests WHERE tenant_id = $1 ORDER BY expires_at, id",
      [tenant],
    )) as { id: string }[];
    expect([...first.ids, ...second.ids, ...third.ids]).toEqual(rows.map((row) => row.id));
  });

  it("searches by id, agent, skill and text, with LIKE wildcards and quotes taken literally", async () => {
    const tenant = "search-co";
    const [plain] = await seed(tenant, 1, { payloadNote: "invoice 4471" });
    const [percent] = await seed(tenant, 1, { payloadNote: "100% off_sale", skill: "shop.discount" });
    await seed(tenant, 5);
    const approver = await createTestKey("approver", { principalId: "searcher", maxLevel: 3 });
    const { cookie } = await signIn(approver);
    const find = async (q: string) => region(cookie, `tenant=${tenant}&q=${encodeURIComponent(q)}`);
    expect((await find(plain ?? "")).ids).toEqual([plain]);
    expect((await find((plain ?? "").toUpperCase())).ids).toEqual([plain]);
    expect((await find("invoice 4471")).ids).toEqual([plain]);
    expect((await find("shop.disc")).ids).toEqual([percent]);
    expect((await find("%")).ids).toEqual([percent]);
    expect((await find("_")).ids).toEqual([percent]);
    expect((await find("seed-bot-")).ids).toHaveLength(7);
    const counted = await find("%");
    expect(counted.total).toBe(1);
    for (const hostile of ["' OR 1=1 --", "\\", "%%%", "\"}'; DROP TABLE approval_requests; --", "apr_zz"]) {
      const page = await find(hostile);
      expect(page.status, hostile).toBe(200);
      expect(page.ids, hostile).toEqual([]);
    }
    // Typed text comes back in the search box as text, never as markup.
    const echoed = await call(
      `/console?tenant=${tenant}&q=${encodeURIComponent('"><script>alert(1)</script>')}`,
      {
        headers: { Cookie: cookie },
      },
    );
    expect(echoed.status).toBe(200);
    expect(await echoed.text()).not.toContain("<script>alert(1)");
    // Bytes that are not UTF-8 (a lone surrogate's encoding) in the search or a cursor: 400, not 500.
    for (const raw of ["q=%ED%A0%80", "q=%FF", "after=%ED%A0%80", "before=%FF%FE"]) {
      const res = await call(`/console/inbox?${raw}`, { headers: { Cookie: cookie } });
      expect(res.status, raw).toBeGreaterThanOrEqual(200);
      expect(res.status, raw).toBeLessThan(500);
    }
    for (const bad of ["a\u0000b", "x".repeat(201)]) {
      const page = await find(bad);
      expect(page.status, JSON.stringify(bad).slice(0, 20)).toBe(400);
    }
    expect(
      (
        await testSql().query("SELECT count(*)::int AS n FROM approval_requests WHERE tenant_id = $1", [
          tenant,
        ])
      )[0],
    ).toEqual({ n: 7 });
  });

  it("refuses cursors it did not issue, from another sort, or both directions at once, with a 400", async () => {
    const approver = await createTestKey("approver", { principalId: "cursor-tester" });
    const { cookie } = await signIn(approver);
    const other = encodeInboxCursor("oldest", { at: new Date().toISOString(), id: "apr_0123456789abcdef" });
    const own = encodeInboxCursor("deadline", { at: new Date().toISOString(), id: "apr_0123456789abcdef" });
    const forged = btoa("deadline|2026-01-01T00:00:00Z|' OR 1=1").replaceAll("=", "");
    for (const query of [
      "after=not-a-cursor!",
      "after=%00",
      `after=${"A".repeat(300)}`,
      `before=${btoa("nonsense")}`,
      `after=${forged}`,
      `after=${other}`,
      `after=${own}&before=${own}`,
      "sort=cheapest",
      "status=approved",
    ]) {
      const res = await call(`/console/inbox?${query}`, { headers: { Cookie: cookie } });
      expect(res.status, query).toBe(400);
    }
    const fine = await call(`/console/inbox?after=${own}`, { headers: { Cookie: cookie } });
    expect(fine.status).toBe(200);
  });

  it("lists and counts only what the key may decide: its tenant, its level, never its own", async () => {
    const [mine] = await seed("scope-a", 1, { requestedBy: "scoped" });
    const [high] = await seed("scope-a", 1, { requiredLevel: 4 });
    const [low] = await seed("scope-a", 1, { requiredLevel: 1 });
    const [elsewhere] = await seed("scope-b", 1, { requiredLevel: 1 });
    const approver = await createTestKey("approver", {
      principalId: "scoped",
      maxLevel: 2,
      tenantId: "scope-a",
    });
    const { cookie } = await signIn(approver);
    const page = await region(cookie, "");
    expect(page.ids).toEqual([low]);
    expect(page.total).toBe(1);
    for (const id of [mine, high, elsewhere]) expect((await region(cookie, `q=${id}`)).ids).toEqual([]);
    expect((await region(cookie, "tenant=scope-b")).status).toBe(403);
  });
});

describe("console bulk decisions", () => {
  it("decides each selected request through the single-decision rules, each with its own result", async () => {
    const tenant = "bulk-co";
    const [ok1, ok2] = await seed(tenant, 2, { requiredLevel: 2 });
    const [above] = await seed(tenant, 1, { requiredLevel: 5 });
    const [own] = await seed(tenant, 1, { requestedBy: "bulker" });
    const [decided] = await seed(tenant, 1);
    await testSql().query("UPDATE approval_requests SET status = 'rejected' WHERE id = $1", [decided]);
    const [foreign] = await seed("bulk-other", 1);
    const approver = await createTestKey("approver", {
      principalId: "bulker",
      maxLevel: 3,
      tenantId: tenant,
    });
    const { cookie, csrf } = await signIn(approver);
    const ids = [ok1, ok2, above, own, decided, foreign, "apr_nothere00000000", "garbage"] as string[];
    const body = new URLSearchParams({ _csrf: csrf, decision: "approve", notes: "batch ok" });
    for (const id of ids) body.append("ids[]", id);
    const res = await call("/console/bulk", { ...form({}, cookie), body: body.toString() });
    expect(res.status).toBe(200);
    const page = await res.text();
    const line = (id: string) =>
      new RegExp(`<li data-request-id="${id}" data-ok="(true|false)">[\\s\\S]*?</li>`).exec(page)?.[0] ?? "";
    expect(line(ok1 ?? "")).toContain('data-ok="true"');
    expect(line(ok1 ?? "")).toContain("Done: the request is approved");
    expect(line(ok2 ?? "")).toContain("Done: the request is approved");
    expect(line(above ?? "")).toContain("kept as a note only");
    expect(line(own ?? "")).toContain('data-ok="false"');
    expect(line(own ?? "")).toContain("cannot decide it");
    expect(line(decided ?? "")).toContain("already rejected");
    expect(line(foreign ?? "")).toContain("not one this key may see");
    expect(page).toContain("3 of 8 recorded");
    const statuses = (await testSql().query(
      "SELECT id, status FROM approval_requests WHERE id = ANY($1::text[]) ORDER BY id",
      [[ok1, ok2, above, own, foreign]],
    )) as { id: string; status: string }[];
    expect(Object.fromEntries(statuses.map((row) => [row.id, row.status]))).toEqual({
      [ok1 ?? ""]: "approved",
      [ok2 ?? ""]: "approved",
      [above ?? ""]: "pending",
      [own ?? ""]: "pending",
      [foreign ?? ""]: "pending",
    });
  });

  it("refuses a reject without a reason, no selection, too many, and a missing CSRF token", async () => {
    const ids = await seed("bulk-limits", 3);
    const approver = await createTestKey("approver", { principalId: "bulk-limit" });
    const { cookie, csrf } = await signIn(approver);
    const post = (fields: [string, string][]) =>
      call("/console/bulk", { ...form({}, cookie), body: new URLSearchParams(fields).toString() });
    const selected = ids.map((id) => ["ids[]", id] as [string, string]);
    expect((await post([["_csrf", csrf], ["decision", "reject"], ...selected])).status).toBe(400);
    expect(
      (
        await post([
          ["_csrf", csrf],
          ["decision", "approve"],
        ])
      ).status,
    ).toBe(400);
    expect((await post([["_csrf", csrf], ["decision", "maybe"], ...selected])).status).toBe(400);
    const many = Array.from({ length: 101 }, (_, i) => ["ids[]", `apr_${i.toString(16).padStart(16, "0")}`]);
    const tooMany = await post([["_csrf", csrf], ["decision", "approve"], ...(many as [string, string][])]);
    expect(tooMany.status).toBe(400);
    expect(await tooMany.text()).toContain("at most 100");
    expect((await post([["decision", "approve"], ...selected])).status).toBe(403);
    const rejected = await post([
      ["_csrf", csrf],
      ["decision", "reject"],
      ["notes", "no budget"],
      ...selected,
    ]);
    expect(rejected.status).toBe(200);
    expect(await rejected.text()).toContain("3 of 3 recorded");
  });

  it("charges each decision of a bulk post to the key's rate limit; past it the rest are not decided", async () => {
    const ids = await seed("bulk-rate", 5);
    const approver = await createTestKey("approver", { principalId: "bulk-rate" });
    const { cookie, csrf } = await signIn(approver);
    // RATE_LIMIT_TINY: 3 per 10 s (vitest.config.ts), as the approver limiter for this post only.
    const tiny = { RATE_LIMIT_APPROVER: (env as unknown as { RATE_LIMIT_TINY: RateLimit }).RATE_LIMIT_TINY };
    const body = new URLSearchParams({ _csrf: csrf, decision: "approve", notes: "fast" });
    for (const id of ids) body.append("ids[]", id);
    const res = await call("/console/bulk", { ...form({}, cookie), body: body.toString() }, tiny);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain("3 of 5 recorded");
    expect(page.match(/Not decided: /g)).toHaveLength(2);
    const approved = (await testSql().query(
      "SELECT count(*)::int AS n FROM approval_requests WHERE id = ANY($1::text[]) AND status = 'approved'",
      [ids],
    )) as { n: number }[];
    expect(approved[0]?.n).toBe(3);
  });
});
