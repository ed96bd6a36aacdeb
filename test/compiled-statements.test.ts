// The hot statements compiled once per isolate (src/db/compiled.ts, issue 30): a compiled statement
// must hold placeholders where the values go and never a value of the call that compiled it, or one
// request's tenant, agent or payload would travel in the next one's statement.
import { fillPlaceholders, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { compile, compiledQueries, executeCompiled } from "../src/db/compiled.ts";
import { type Transition, transitionShape, transitionStatement } from "../src/db/transitions.ts";
import type { OutcomeSource } from "../src/domain/outcome.ts";
import type { ApprovalStatus } from "../src/domain/vocabulary.ts";
import { testEnv } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

let admin: TestKey;
let approver: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  approver = await createTestKey("approver", { maxLevel: 5 });
});

/** A tenant with a budget (so filings carry spend assumptions) and an agent key for it. */
async function tenantWithBudget() {
  const tenant = `cs-${crypto.randomUUID().slice(0, 8)}`;
  const budget = await postJson(
    "/api/v1/admin/policies/budgets",
    { tenant_id: tenant, period: "month", limit_cents: 1_000_000 },
    admin.headers,
  );
  expect(budget.status).toBe(201);
  const agent = await createTestKey("agent", { tenantId: tenant, agentIds: ["bot-*"] });
  return { tenant, agent };
}

async function file(agent: TestKey, tenant: string, agentId: string, extra: Record<string, unknown> = {}) {
  const res = await postJson(
    "/api/v1/policy/requests",
    {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: tenant,
      agent_id: agentId,
      requested_by: agentId,
      payload: { marker: extra.marker ?? "none" },
    },
    {
      ...agent.headers,
      ...(extra.idempotencyKey ? { "Idempotency-Key": String(extra.idempotencyKey) } : {}),
    },
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { request_id: string; status: string };
}

describe("compiled statements", () => {
  it("hold no value of the calls that compiled or ran them", async () => {
    const { tenant, agent } = await tenantWithBudget();
    const agentId = `bot-${crypto.randomUUID().slice(0, 8)}`;
    const marker = `marker-${crypto.randomUUID()}`;
    const idempotencyKey = `idem-${crypto.randomUUID()}`;
    // Every compiled path: the evaluation's read, filings with and without an agent and an idempotency
    // key, the decision's read, a request's read.
    const evaluated = await postJson(
      "/api/v1/policy/eval",
      { skill_id: "payments.transfer", tenant_id: tenant, agent_id: agentId, payload: { marker } },
      agent.headers,
    );
    expect(evaluated.status).toBe(200);
    const first = await file(agent, tenant, agentId, { marker, idempotencyKey });
    await file(agent, tenant, agentId, { marker, idempotencyKey });
    const second = await file(agent, tenant, `${agentId}-2`, { marker });
    expect(
      (await call(`/api/v1/policy/requests/${second.request_id}`, { headers: agent.headers })).status,
    ).toBe(200);
    const approved = await postJson(
      `/api/v1/policy/requests/${first.request_id}/approve`,
      {},
      approver.headers,
    );
    expect([200, 403, 409]).toContain(approved.status);

    const shapes = [...compiledQueries().entries()];
    expect(shapes.map(([shape]) => shape.split("|")[0])).toEqual(
      expect.arrayContaining(["insert-request", "load-request", "decision-read:request"]),
    );
    for (const [shape, query] of shapes) {
      for (const value of [tenant, agentId, marker, idempotencyKey, first.request_id, second.request_id]) {
        expect(query.sql, shape).not.toContain(value);
        expect(JSON.stringify(query.params), shape).not.toContain(value);
      }
    }
  });

  it("bind each call's own values: two filings of one shape answer their own tenant and agent", async () => {
    const a = await tenantWithBudget();
    const b = await tenantWithBudget();
    const [one, two] = await Promise.all([
      file(a.agent, a.tenant, "bot-a"),
      file(b.agent, b.tenant, "bot-b"),
    ]);
    const read = async (id: string, agent: TestKey) =>
      (await (await call(`/api/v1/policy/requests/${id}`, { headers: agent.headers })).json()) as {
        tenant_id: string;
        agent_id: string;
      };
    const [readOne, readTwo] = [await read(one.request_id, a.agent), await read(two.request_id, b.agent)];
    expect([readOne.tenant_id, readOne.agent_id]).toEqual([a.tenant, "bot-a"]);
    expect([readTwo.tenant_id, readTwo.agent_id]).toEqual([b.tenant, "bot-b"]);
  });

  it("refuse a statement with a placeholder left unbound, before anything is sent", async () => {
    const db = createDb(testEnv());
    await expect(
      executeCompiled(db, "test:unbound", () => sql`SELECT ${sql.placeholder("missing")}::text AS x`, {}),
    ).rejects.toThrow(/missing/);
    const { rows } = await executeCompiled(
      db,
      "test:unbound",
      () => sql`SELECT ${sql.placeholder("missing")}::text AS x`,
      { missing: "bound" },
    );
    expect(rows).toEqual([{ x: "bound" }]);
  });

  it("keep a bounded number of shapes", () => {
    for (let i = 0; i < 300; i += 1) compile(`test:shape-${i}`, () => sql`SELECT ${i}::int AS n`);
    expect(compiledQueries().size).toBeLessThanOrEqual(256);
  });
});

describe("compiled transitions", () => {
  const dialect = new PgDialect();
  const before = (status: ApprovalStatus): OutcomeSource => ({
    status,
    statusHistoryJson: [],
    approvalsJson: [],
    requiredLevel: 2,
    requiredApprovals: 1,
    requestedBy: "bot-1",
    requesterPrincipalId: null,
    resolvedAt: null,
  });
  /** A matrix of single-request transitions, each shape at least twice with other values. */
  function transitions(): Transition[] {
    const all: Transition[] = [];
    const statuses: (ApprovalStatus | null)[] = [
      "approved",
      "rejected",
      "cancelled",
      "expired",
      "escalated",
      null,
    ];
    for (const [n, toStatus] of statuses.entries())
      for (const variant of [0, 1, 2, 3])
        for (const copy of [0, 1]) {
          const at = new Date(Date.UTC(2026, 11, 1 + copy, n, variant));
          all.push({
            where: { id: `apr_${copy}${n}${variant}`, version: copy + n + variant },
            toStatus,
            actor: `approver-${copy}`,
            reason: variant === 0 ? null : `because ${copy}`,
            event: toStatus === null ? "approval_added" : `approval_request_${toStatus}`,
            approvals:
              variant >= 1
                ? [{ approver_id: `p-${copy}`, level: 3, notes: `n${copy}`, at: at.toISOString() }]
                : undefined,
            currentLevel: variant >= 2 ? 3 + copy : undefined,
            receipt:
              variant === 3
                ? { id: `rcpt_${copy}`, jws: `jws.${copy}`, kid: `kid-${copy}`, notAfter: at }
                : undefined,
            payloadChange:
              variant === 2
                ? {
                    approved: copy ? null : { payload: { amount: copy }, hash: `h${copy}` },
                    requiredLevel: 3,
                    costCents: copy,
                  }
                : undefined,
            before: variant === 1 ? null : before("pending"),
            at,
          } as Transition);
        }
    return all;
  }

  it("compile to the text the statement has when built with its values, the values in the same places", () => {
    const shapes = new Map<string, string>();
    for (const t of transitions()) {
      const direct = dialect.sqlToQuery(transitionStatement(t));
      const values: Record<string, unknown> = {};
      const statement = transitionStatement(t, (name, value) => {
        values[name] = value;
        return sql.placeholder(name);
      });
      const compiled = dialect.sqlToQuery(statement);
      expect(compiled.sql).toBe(direct.sql);
      expect(fillPlaceholders(compiled.params, values)).toEqual(direct.params);
      // The shape names the text: two transitions of one shape compile to one text.
      const shape = transitionShape(t, "outcome" in values);
      expect(shapes.get(shape) ?? compiled.sql, shape).toBe(compiled.sql);
      shapes.set(shape, compiled.sql);
    }
    expect(shapes.size).toBeGreaterThan(10);
  });
});
