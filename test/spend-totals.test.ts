// spend_totals, the running totals budget checks read (migration 0012), always equal the ledger's
// sums: whoever writes the ledger (the API, raw SQL), concurrently, backdated, or deleting.
import { beforeAll, describe, expect, it } from "vitest";
import { testSql } from "./helpers/database.ts";
import { postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

let agent: TestKey;
let admin: TestKey;

beforeAll(async () => {
  agent = await createTestKey("agent");
  admin = await createTestKey("admin");
});

const newTenant = () => `st-${crypto.randomUUID().slice(0, 8)}`;

/** Every (scope, period, start) where the totals and the ledger's own sums differ; [] when they agree. */
async function mismatches(tenant: string) {
  return testSql().query(
    `WITH ledger AS (
       SELECT scope.agent, bucket.period, bucket.start, sum(amount_cents) AS amount
       FROM spend_ledger,
            LATERAL (VALUES ('', true), (coalesce(agent_id, ''), false)) AS scope(agent, whole),
            LATERAL (VALUES ('day', date_trunc('day', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                            ('month', date_trunc('month', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'))
              AS bucket(period, start)
       WHERE tenant_id = $1 AND (scope.whole OR agent_id IS NOT NULL)
       GROUP BY 1, 2, 3)
     SELECT coalesce(l.agent, t.agent_id) AS agent, coalesce(l.period, t.period) AS period,
            l.amount AS ledger, t.amount_cents AS total
     FROM ledger l FULL JOIN (SELECT * FROM spend_totals WHERE tenant_id = $1) t
       ON t.agent_id = l.agent AND t.period = l.period AND t.period_start = l.start
     WHERE coalesce(l.amount, 0) <> coalesce(t.amount_cents, 0)`,
    [tenant],
  );
}

const report = (tenant: string, amount: number, extra: Record<string, unknown> = {}) =>
  postJson(
    "/api/v1/policy/usage",
    { usage_id: `u-${crypto.randomUUID()}`, tenant_id: tenant, amount_cents: amount, ...extra },
    agent.headers,
  );

describe("spend totals", () => {
  it("match the ledger after concurrent reports, backdated ones, raw SQL inserts and deletes", async () => {
    const tenant = newTenant();
    const statuses = await Promise.all(
      Array.from({ length: 25 }, (_, i) => report(tenant, 1 + i).then((res) => res.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([201]));
    const lastMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 1, 15));
    expect((await report(tenant, 1000, { occurred_at: lastMonth.toISOString() })).status).toBe(201);
    await testSql().query(
      `INSERT INTO spend_ledger (tenant_id, agent_id, amount_cents, source, reference, occurred_at)
       VALUES ($1, 'bot-9', 70, 'usage', 'raw-1', now()), ($1, NULL, 5, 'usage', 'raw-2', now() - interval '40 days')`,
      [tenant],
    );
    expect(await mismatches(tenant)).toEqual([]);
    await testSql().query("DELETE FROM spend_ledger WHERE tenant_id = $1 AND reference = 'raw-1'", [tenant]);
    expect(await mismatches(tenant)).toEqual([]);
    const [month] = await testSql().query(
      `SELECT amount_cents FROM spend_totals WHERE tenant_id = $1 AND agent_id = '' AND period = 'month'
         AND period_start = date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`,
      [tenant],
    );
    expect(Number(month?.amount_cents)).toBe((25 * 26) / 2);
  });

  it("are what budgets see: spend reported today counts against a daily budget at once", async () => {
    const tenant = newTenant();
    const budget = await postJson(
      "/api/v1/admin/policies/budgets",
      { tenant_id: tenant, period: "day", limit_cents: 100, enforcement: "hard" },
      admin.headers,
    );
    expect(budget.status).toBe(201);
    const evaluate = async () =>
      (await (
        await postJson(
          "/api/v1/policy/eval",
          { skill_id: "search.web", tenant_id: tenant, payload: {} },
          admin.headers,
        )
      ).json()) as { decision: string; reasons: string[] };
    expect((await evaluate()).decision).not.toBe("deny");
    expect((await report(tenant, 95)).status).toBe(201);
    const after = await evaluate();
    expect(after.decision).toBe("deny");
    expect(after.reasons.join(" ")).toMatch(/95 spent/);
  });
});
