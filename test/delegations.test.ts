// Delegation (issue 25) through the API: creating, listing, reading and revoking delegations, their
// rules (period, self, limit, cycles, tenants, who may revoke), and their effect on deciding: the
// delegate decides at its own level, recorded on behalf of the delegator, never for the requester,
// along chains of at most two, only while the delegation is in force; the console's inbox marks it.
import { beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext } from "../src/services/context.ts";
import { activeDelegates, onBehalfOf } from "../src/services/delegations.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { fileRequest } from "./helpers/requests.ts";
import { sleep, withPolicy } from "./helpers/waits.ts";

const DELEGATIONS = "/api/v1/delegations";
const HOUR = 3600_000;

interface Delegation {
  id: number;
  principal_id: string;
  delegate_id: string;
  tenant_id: string | null;
  starts_at: string;
  ends_at: string;
  reason: string | null;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

interface Approver {
  approver_id: string;
  level: number;
  action: string;
  notes: string | null;
  on_behalf_of?: string;
}

interface Decided {
  status: string;
  approvers: Approver[];
}

let admin: TestKey;
let agent: TestKey;
beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-del" });
  agent = await createTestKey("agent", { principalId: "agent-del" });
});

const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
const inHours = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

function approverKey(principalId: string, maxLevel = 4, tenantId: string | null = null) {
  return createTestKey("approver", { principalId, maxLevel, tenantId });
}

async function delegate(key: TestKey, body: Record<string, unknown>) {
  const res = await postJson(DELEGATIONS, { ends_at: inHours(24), ...body }, key.headers);
  return { status: res.status, body: (await res.json()) as Delegation & ErrorEnvelope };
}

async function delegated(key: TestKey, body: Record<string, unknown>): Promise<Delegation> {
  const sent = await delegate(key, body);
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  return sent.body;
}

async function revoke(key: TestKey, id: number) {
  const res = await call(`${DELEGATIONS}/${id}/revoke`, { method: "POST", headers: key.headers });
  return { status: res.status, body: (await res.json()) as Delegation & ErrorEnvelope };
}

async function decide(key: TestKey, id: string, kind: "approve" | "reject" = "approve") {
  const res = await postJson(`/api/v1/policy/requests/${id}/${kind}`, { notes: "ok" }, key.headers);
  return { status: res.status, body: (await res.json()) as Decided & ErrorEnvelope };
}

/** A tenant whose cost requests wait for `escalateTo` at `level`; returns the tenant id. */
async function tenantWaitingFor(escalateTo: string, level = "manual_approve"): Promise<string> {
  const tenant = unique("dt");
  await withPolicy(admin, tenant, { approval_level: level, escalate_to: escalateTo });
  return tenant;
}

describe("managing delegations", () => {
  it("an approver names a delegate for itself: 201, audited in the same statement, seen by both parties only", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const deputy = await approverKey(unique("deputy"));
    const stranger = await approverKey(unique("stranger"));
    const created = await delegated(boss, {
      delegate_id: deputy.principalId.toUpperCase(),
      reason: "on leave",
    });
    expect(created).toMatchObject({
      principal_id: boss.principalId,
      delegate_id: deputy.principalId, // folded like every id
      tenant_id: null,
      reason: "on leave",
      created_by: boss.principalId,
      revoked_at: null,
    });
    const audit = await testSql()`SELECT actor, action, after FROM audit_events
      WHERE target_type = 'delegation' AND target_id = ${String(created.id)}`;
    expect(audit).toEqual([
      expect.objectContaining({
        actor: boss.principalId,
        action: "delegation.create",
        after: expect.objectContaining({ delegate_id: deputy.principalId, reason: "on leave" }),
      }),
    ]);

    for (const party of [boss, deputy, admin]) {
      const list = (await (await call(DELEGATIONS, { headers: party.headers })).json()) as Delegation[];
      expect(list.map((row) => row.id)).toContain(created.id);
      expect((await call(`${DELEGATIONS}/${created.id}`, { headers: party.headers })).status).toBe(200);
    }
    const theirs = (await (await call(DELEGATIONS, { headers: stranger.headers })).json()) as Delegation[];
    expect(theirs.map((row) => row.id)).not.toContain(created.id);
    expect((await call(`${DELEGATIONS}/${created.id}`, { headers: stranger.headers })).status).toBe(404);

    const asDelegate = (await (
      await call(`${DELEGATIONS}?delegate_id=${deputy.principalId}&active=true`, { headers: deputy.headers })
    ).json()) as Delegation[];
    expect(asDelegate.map((row) => row.id)).toEqual([created.id]);
  });

  it("an agent key is refused every delegation route (403)", async () => {
    const sent = await delegate(agent, { delegate_id: "someone" });
    expect(sent.status).toBe(403);
    expect((await call(DELEGATIONS, { headers: agent.headers })).status).toBe(403);
    expect((await call(`${DELEGATIONS}/1`, { headers: agent.headers })).status).toBe(403);
    expect((await call(`${DELEGATIONS}/1/revoke`, { method: "POST", headers: agent.headers })).status).toBe(
      403,
    );
  });

  it("refuses bad periods, oneself, bad reasons and unknown fields with 400 naming the field", async () => {
    const key = await approverKey(unique("p"));
    const cases: [Record<string, unknown>, string][] = [
      [{ delegate_id: "d1", starts_at: inHours(2), ends_at: inHours(1) }, "ends_at"],
      [{ delegate_id: "d1", starts_at: inHours(1), ends_at: inHours(1) }, "ends_at"],
      [{ delegate_id: "d1", starts_at: new Date(Date.now() - 2 * 60_000).toISOString() }, "starts_at"],
      [{ delegate_id: "d1", ends_at: inHours(24 * 91) }, "ends_at"],
      [{ delegate_id: key.principalId }, "delegate_id"],
      [{ delegate_id: ` ${key.principalId.toUpperCase()} ` }, "delegate_id"],
      [{ delegate_id: "d1", reason: "line one\nline two" }, "reason"],
      [{ delegate_id: "d1", reason: "x".repeat(501) }, "reason"],
      [{ delegate_id: "d1", ends_at: "tomorrow" }, "ends_at"],
      [{ delegate_id: "d1", level: 5 }, ""],
    ];
    for (const [body, field] of cases) {
      const sent = await delegate(key, body);
      expect(sent.status, JSON.stringify(body)).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
      expect(JSON.stringify(sent.body.error)).toContain(field);
    }
    // A start up to a minute back is clock skew, not the past; 90 days exactly is allowed.
    const start = new Date(Date.now() - 30_000);
    await delegated(key, {
      delegate_id: "d1",
      starts_at: start.toISOString(),
      ends_at: new Date(start.getTime() + 90 * 24 * HOUR).toISOString(),
    });
  });

  it("the table itself refuses a delegation to oneself (CHECK)", async () => {
    await expect(
      testSql()`INSERT INTO delegations (principal_id, delegate_id, starts_at, ends_at, created_by)
        VALUES ('same', 'same', now(), now() + interval '1 hour', 'test')`,
    ).rejects.toThrow(/delegations_not_self/);
  });

  it("only an admin creates a delegation for someone else; a tenant-scoped key only within its tenant", async () => {
    const key = await approverKey(unique("p"));
    const other = unique("other");
    const refused = await delegate(key, { principal_id: other, delegate_id: "d1" });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain(key.principalId);
    const byAdmin = await delegated(admin, { principal_id: other, delegate_id: "d1", tenant_id: "acme" });
    expect(byAdmin).toMatchObject({ principal_id: other, created_by: admin.principalId, tenant_id: "acme" });

    const scoped = await approverKey(unique("scoped"), 4, "acme");
    expect((await delegate(scoped, { delegate_id: "d1", tenant_id: "globex" })).status).toBe(403);
    expect((await delegate(scoped, { delegate_id: "d1", tenant_id: null })).status).toBe(403);
    expect(await delegated(scoped, { delegate_id: "d1" })).toMatchObject({ tenant_id: "acme" });
  });

  it("at most 5 delegations in force or to come per principal (409); revoking one makes room", async () => {
    const key = await approverKey(unique("p"));
    const made: Delegation[] = [];
    for (let i = 0; i < 5; i++) made.push(await delegated(key, { delegate_id: unique("d") }));
    const sixth = await delegate(key, { delegate_id: unique("d") });
    expect(sixth.status).toBe(409);
    expect(sixth.body.error.code).toBe("conflict");
    expect((await revoke(key, made[0]?.id ?? 0)).status).toBe(200);
    await delegated(key, { delegate_id: unique("d") });
  });

  it("refuses a cycle among overlapping delegations (409), of any length; one after the other is fine", async () => {
    const [a, b, c] = await Promise.all([
      approverKey(unique("a")),
      approverKey(unique("b")),
      approverKey(unique("c")),
    ]);
    await delegated(a, { delegate_id: b.principalId });
    const back = await delegate(b, { delegate_id: a.principalId });
    expect(back.status).toBe(409);
    expect(back.body.error.message).toMatch(/cycle/);
    await delegated(b, { delegate_id: c.principalId });
    expect((await delegate(c, { delegate_id: a.principalId })).status).toBe(409);
    // After a's delegation ends, b may hand back to a: the periods do not overlap.
    await delegated(b, { delegate_id: a.principalId, starts_at: inHours(25), ends_at: inHours(48) });
  });

  it("two creations racing to close a cycle: exactly one wins (four races at once)", async () => {
    // Several pairs at once widen the window in which a creation commits between another's reads.
    const races = await Promise.all(
      [1, 2, 3, 4].map(async () => {
        const [a, b] = await Promise.all([approverKey(unique("a")), approverKey(unique("b"))]);
        const sent = await Promise.all([
          delegate(a, { delegate_id: b.principalId }),
          delegate(b, { delegate_id: a.principalId }),
        ]);
        return sent.map((s) => s.status).sort();
      }),
    );
    for (const statuses of races) expect(statuses).toEqual([201, 409]);
  });

  it("a delegate cannot revoke the principal's delegation; the principal and an admin can, at once and audited once", async () => {
    const boss = await approverKey(unique("boss"));
    const deputy = await approverKey(unique("deputy"));
    const stranger = await approverKey(unique("stranger"));
    const first = await delegated(boss, { delegate_id: deputy.principalId });
    const byDeputy = await revoke(deputy, first.id);
    expect(byDeputy.status).toBe(403);
    expect(byDeputy.body.error.message).toMatch(/Only the principal/);
    expect((await revoke(stranger, first.id)).status).toBe(404);
    const byBoss = await revoke(boss, first.id);
    expect(byBoss.status).toBe(200);
    expect(byBoss.body).toMatchObject({ revoked_by: boss.principalId });
    expect(byBoss.body.revoked_at).not.toBeNull();
    expect((await revoke(boss, first.id)).status).toBe(200);
    const audits = await testSql()`SELECT action FROM audit_events
      WHERE target_type = 'delegation' AND target_id = ${String(first.id)} ORDER BY id`;
    expect(audits.map((row) => row.action)).toEqual(["delegation.create", "delegation.revoke"]);

    const second = await delegated(boss, { delegate_id: deputy.principalId });
    expect((await revoke(admin, second.id)).body).toMatchObject({ revoked_by: admin.principalId });
    const active = (await (
      await call(`${DELEGATIONS}?active=true&principal_id=${boss.principalId}`, { headers: boss.headers })
    ).json()) as Delegation[];
    expect(active).toEqual([]);
  });

  it("another tenant's delegations do not exist for a tenant-scoped key", async () => {
    const boss = await approverKey(unique("boss"));
    const inGlobex = await delegated(boss, { delegate_id: unique("d"), tenant_id: "globex" });
    const everywhere = await delegated(boss, { delegate_id: unique("d") });
    // The same principal's key confined to acme.
    const acmeKey = await approverKey(boss.principalId, 4, "acme");
    const seen = (await (await call(DELEGATIONS, { headers: acmeKey.headers })).json()) as Delegation[];
    expect(seen.map((row) => row.id)).toEqual([everywhere.id]);
    expect((await call(`${DELEGATIONS}/${inGlobex.id}`, { headers: acmeKey.headers })).status).toBe(404);
    expect((await revoke(acmeKey, inGlobex.id)).status).toBe(404);
  });

  it("keeps the reason as data: markup and quotes come back verbatim in JSON, never interpreted", async () => {
    const key = await approverKey(unique("p"));
    const reason = `<script>alert("x")</script> & 'quoted' \u202e`;
    const created = await delegated(key, { delegate_id: "d1", reason });
    const res = await call(`${DELEGATIONS}/${created.id}`, { headers: key.headers });
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(((await res.json()) as Delegation).reason).toBe(reason);
  });

  it("bad path ids are 400, unknown ones 404", async () => {
    const key = await approverKey(unique("p"));
    for (const id of ["0", "-1", "abc", "1e3", "99999999999999999999"]) {
      expect((await call(`${DELEGATIONS}/${id}`, { headers: key.headers })).status, id).toBe(400);
    }
    expect((await call(`${DELEGATIONS}/987654321`, { headers: key.headers })).status).toBe(404);
  });
});

describe("deciding as a delegate", () => {
  it("the delegate decides at its own level, recorded on behalf of the principal the request waits for", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const deputy = await approverKey(unique("deputy"), 4);
    await delegated(boss, { delegate_id: deputy.principalId });
    const tenant = await tenantWaitingFor(boss.principalId);
    const id = await fileRequest(agent, { tenant_id: tenant });
    const sent = await decide(deputy, id);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.status).toBe("approved");
    expect(sent.body.approvers).toEqual([
      expect.objectContaining({
        approver_id: deputy.principalId,
        level: 4,
        action: "approve",
        on_behalf_of: boss.principalId,
      }),
    ]);
    const read = (await (
      await call(`/api/v1/policy/requests/${id}`, { headers: boss.headers })
    ).json()) as Decided;
    expect(read.approvers[0]?.on_behalf_of).toBe(boss.principalId);
  });

  it("never the delegator's level: a level-2 delegate of a level-5 principal only adds a note to a level-4 request", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const deputy = await approverKey(unique("deputy"), 2);
    await delegated(boss, { delegate_id: deputy.principalId });
    const tenant = await tenantWaitingFor(boss.principalId);
    const id = await fileRequest(agent, { tenant_id: tenant });
    for (const kind of ["approve", "reject"] as const) {
      const sent = await decide(deputy, id, kind);
      expect(sent.status).toBe(200);
      expect(sent.body.status).toBe("pending");
      expect(sent.body.approvers.at(-1)).toMatchObject({
        level: 2,
        action: "note",
        on_behalf_of: boss.principalId,
      });
    }
    // Asking for a higher level than the key's own, or to act as the delegator, is refused as ever.
    const higher = await postJson(`/api/v1/policy/requests/${id}/approve`, { level: 4 }, deputy.headers);
    expect(higher.status).toBe(403);
    const asBoss = await postJson(
      `/api/v1/policy/requests/${id}/approve`,
      { approver_id: boss.principalId },
      deputy.headers,
    );
    expect(asBoss.status).toBe(403);
  });

  it("before it starts, after it ends, and from its revocation on, a delegation has no effect", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const early = await approverKey(unique("early"), 4);
    const brief = await approverKey(unique("brief"), 4);
    const revoked = await approverKey(unique("revoked"), 4);
    await delegated(boss, { delegate_id: early.principalId, starts_at: inHours(1), ends_at: inHours(2) });
    await delegated(boss, {
      delegate_id: brief.principalId,
      ends_at: new Date(Date.now() + 1500).toISOString(),
    });
    const toRevoke = await delegated(boss, { delegate_id: revoked.principalId });
    const tenant = await tenantWaitingFor(boss.principalId, "agent_approve");

    const notYet = await decide(early, await fileRequest(agent, { tenant_id: tenant }));
    expect(notYet.body.approvers[0]).not.toHaveProperty("on_behalf_of");

    await sleep(1600);
    const ended = await decide(brief, await fileRequest(agent, { tenant_id: tenant }));
    expect(ended.status).toBe(200);
    expect(ended.body.approvers[0]).not.toHaveProperty("on_behalf_of");

    const before = await decide(revoked, await fileRequest(agent, { tenant_id: tenant }));
    expect(before.body.approvers[0]?.on_behalf_of).toBe(boss.principalId);
    expect((await revoke(boss, toRevoke.id)).status).toBe(200);
    const after = await decide(revoked, await fileRequest(agent, { tenant_id: tenant }));
    expect(after.body.approvers[0]).not.toHaveProperty("on_behalf_of");
  });

  it("chains: A→B→C lets C decide for A (depth 2); A→B→C→E does not let E (depth 3)", async () => {
    const [a, b, c, e] = await Promise.all(["a", "b", "c", "e"].map((name) => approverKey(unique(name), 4)));
    if (!a || !b || !c || !e) throw new Error("keys");
    await delegated(a, { delegate_id: b.principalId });
    await delegated(b, { delegate_id: c.principalId });
    await delegated(c, { delegate_id: e.principalId });
    const tenant = await tenantWaitingFor(a.principalId);
    const byC = await decide(c, await fileRequest(agent, { tenant_id: tenant }));
    expect(byC.body.approvers[0]?.on_behalf_of).toBe(a.principalId);
    const byE = await decide(e, await fileRequest(agent, { tenant_id: tenant }));
    expect(byE.status).toBe(200);
    expect(byE.body.approvers[0]).not.toHaveProperty("on_behalf_of");
  });

  it("never a self-approval by proxy: a delegate of the requester decides only as itself, never on the requester's behalf", async () => {
    const rita = await approverKey(unique("rita"), 4);
    const deputy = await approverKey(unique("deputy"), 4);
    const second = await approverKey(unique("second"), 4);
    await delegated(rita, { delegate_id: deputy.principalId });
    await delegated(deputy, { delegate_id: second.principalId });
    // The request waits for rita and she asked for it herself: she may not decide it, and her
    // stand-ins (directly or by a chain) are not recorded as deciding for her.
    const tenant = await tenantWaitingFor(rita.principalId);
    const id = await fileRequest(agent, { tenant_id: tenant, requested_by: rita.principalId });
    expect((await decide(rita, id)).status).toBe(403);
    const note = await postJson(`/api/v1/policy/requests/${id}/approve`, { level: 2 }, second.headers);
    expect(note.status).toBe(200);
    expect(((await note.json()) as Decided).approvers[0]).not.toHaveProperty("on_behalf_of");
    const byDeputy = await decide(deputy, id);
    expect(byDeputy.status).toBe(200);
    expect(byDeputy.body.approvers.at(-1)).toMatchObject({
      approver_id: deputy.principalId,
      action: "approve",
    });
    expect(byDeputy.body.approvers.at(-1)).not.toHaveProperty("on_behalf_of");

    // The filing key's principal counts as the requester too, even when the request waits for someone
    // the decider also stands in for.
    const boss = await approverKey(unique("boss"), 5);
    const agentPrincipal = await createTestKey("approver", { principalId: agent.principalId, maxLevel: 4 });
    const proxy = await approverKey(unique("proxy"), 4);
    await delegated(agentPrincipal, { delegate_id: proxy.principalId });
    await delegated(boss, { delegate_id: proxy.principalId });
    const bossTenant = await tenantWaitingFor(boss.principalId);
    const filed = await fileRequest(agent, { tenant_id: bossTenant, requested_by: "someone-else" });
    const byProxy = await decide(proxy, filed);
    expect(byProxy.status).toBe(200);
    expect(byProxy.body.approvers[0]).not.toHaveProperty("on_behalf_of");
  });

  it("naming approvers as delegates does not let a requester shut them out of its requests", async () => {
    const rita = await approverKey(unique("rita"), 4);
    const strict = await approverKey(unique("strict"), 4);
    await delegated(rita, { delegate_id: strict.principalId });
    const tenant = await tenantWaitingFor(unique("someone"));
    const id = await fileRequest(agent, { tenant_id: tenant, requested_by: rita.principalId });
    const sent = await decide(strict, id, "reject");
    expect(sent.status).toBe(200);
    expect(sent.body.status).toBe("rejected");
  });

  it("a delegation confined to one tenant has no effect in another", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const deputy = await approverKey(unique("deputy"), 4);
    const tenantA = await tenantWaitingFor(boss.principalId);
    const tenantB = await tenantWaitingFor(boss.principalId);
    await delegated(boss, { delegate_id: deputy.principalId, tenant_id: tenantA });
    const inA = await decide(deputy, await fileRequest(agent, { tenant_id: tenantA }));
    expect(inA.body.approvers[0]?.on_behalf_of).toBe(boss.principalId);
    const inB = await decide(deputy, await fileRequest(agent, { tenant_id: tenantB }));
    expect(inB.body.approvers[0]).not.toHaveProperty("on_behalf_of");
  });

  it("a delegate's key still reads only its own tenant: a delegation opens no other tenant's request", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const tenantA = await tenantWaitingFor(boss.principalId);
    const tenantB = await tenantWaitingFor(boss.principalId);
    const deputy = await approverKey(unique("deputy"), 4, tenantA);
    await delegated(boss, { delegate_id: deputy.principalId });
    const sent = await decide(deputy, await fileRequest(agent, { tenant_id: tenantB }));
    expect(sent.status).toBe(404);
  });
});

describe("the console inbox", () => {
  it("marks requests the approver may decide on behalf of a delegator, above its level too, within its key's scope only", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const tenantA = await tenantWaitingFor(boss.principalId);
    const tenantB = await tenantWaitingFor(boss.principalId);
    const deputy = await approverKey(unique("deputy"), 2, tenantA);
    await delegated(boss, { delegate_id: deputy.principalId });
    const visible = await fileRequest(agent, { tenant_id: tenantA });
    const otherTenant = await fileRequest(agent, { tenant_id: tenantB });
    const { cookie } = await signIn(deputy);
    const page = await (await call(`/console?tenant=${tenantA}`, { headers: { Cookie: cookie } })).text();
    expect(page).toContain(`data-request-id="${visible}"`);
    expect(page).toContain(`data-on-behalf-of="${boss.principalId}"`);
    expect(page).toContain(`on behalf of ${boss.principalId}`);
    const all = await (await call("/console", { headers: { Cookie: cookie } })).text();
    expect(all).not.toContain(otherTenant);

    // Without the delegation the level-4 request is not the level-2 deputy's to see in its inbox.
    const plain = await approverKey(unique("plain"), 2, tenantA);
    const session = await signIn(plain);
    const theirs = await (
      await call(`/console?tenant=${tenantA}`, { headers: { Cookie: session.cookie } })
    ).text();
    expect(theirs).not.toContain(visible);
  });

  it("does not mark a request whose requester the approver stands in for", async () => {
    const rita = await approverKey(unique("rita"), 4);
    const deputy = await approverKey(unique("deputy"), 4);
    await delegated(rita, { delegate_id: deputy.principalId });
    const tenant = await tenantWaitingFor(rita.principalId);
    const id = await fileRequest(agent, { tenant_id: tenant, requested_by: rita.principalId });
    const { cookie } = await signIn(deputy);
    const page = await (await call(`/console?tenant=${tenant}`, { headers: { Cookie: cookie } })).text();
    expect(page).toContain(`data-request-id="${id}"`);
    expect(page).not.toContain("data-on-behalf-of");
  });
});

describe("the console's delegations page", () => {
  it("an approver names a delegate and revokes it; the reason is escaped and quoted as data", async () => {
    const boss = await approverKey(unique("boss"), 5);
    const deputy = await approverKey(unique("deputy"), 4);
    const { cookie, csrf } = await signIn(boss);
    const until = new Date(Date.now() + 48 * HOUR).toISOString().slice(0, 16);
    const reason = `<img src=x onerror=alert(1)> "away"`;
    const created = await call(
      "/console/delegations",
      form({ _csrf: csrf, delegate_id: deputy.principalId.toUpperCase(), ends_at: until, reason }, cookie),
    );
    const page = await created.text();
    expect(created.status, page).toBe(200);
    expect(page).toContain(`${deputy.principalId} stands in for ${boss.principalId}`);
    expect(page).not.toContain("<img src=x");
    expect(page).toContain(`<q class="human-text">&lt;img src=x onerror=alert(1)&gt; &quot;away&quot;</q>`);
    const [row] = (await (
      await call(`${DELEGATIONS}?principal_id=${boss.principalId}`, { headers: boss.headers })
    ).json()) as Delegation[];
    expect(row).toMatchObject({ delegate_id: deputy.principalId, reason });
    expect(row?.ends_at).toBe(`${until}:00.000Z`);

    // The delegate sees it without a revoke button, and a forged revoke is refused.
    const asDeputy = await signIn(deputy);
    const theirs = await (
      await call("/console/delegations", { headers: { Cookie: asDeputy.cookie } })
    ).text();
    expect(theirs).toContain(`data-delegation-id="${row?.id}"`);
    expect(theirs).not.toContain(`/console/delegations/${row?.id}/revoke`);
    const forged = await call(
      `/console/delegations/${row?.id}/revoke`,
      form({ _csrf: asDeputy.csrf }, asDeputy.cookie),
    );
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain("Only the principal who delegated");

    const revoked = await call(`/console/delegations/${row?.id}/revoke`, form({ _csrf: csrf }, cookie));
    expect(revoked.status).toBe(200);
    expect(await revoked.text()).toContain(`Delegation ${row?.id} revoked.`);
  });

  it("refuses bad input on the page with the API's rules, and a post without the CSRF token", async () => {
    const key = await approverKey(unique("p"));
    const { cookie, csrf } = await signIn(key);
    const cases: [Record<string, string>, string][] = [
      [{ delegate_id: key.principalId, ends_at: inHours(2) }, "cannot delegate to itself"],
      [{ delegate_id: "d1", ends_at: "next week" }, "ends_at: a date and time"],
      [{ delegate_id: "d1", ends_at: "" }, "ends_at: say until when"],
      [{ delegate_id: "", ends_at: inHours(2) }, "delegate_id"],
      [{ delegate_id: "d1", ends_at: inHours(24 * 100) }, "at most 90 days"],
    ];
    for (const [fields, text] of cases) {
      const res = await call("/console/delegations", form({ _csrf: csrf, ...fields }, cookie));
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(await res.text()).toContain(text);
    }
    const noToken = await call(
      "/console/delegations",
      form({ delegate_id: "d1", ends_at: inHours(2) }, cookie),
    );
    expect(noToken.status).toBe(403);
  });
});

describe("the services the notification engine calls", () => {
  const ctx = () =>
    createServiceContext({
      env: testEnv(),
      log: createLogger("error"),
      metrics: new MetricsBuffer(),
      waitUntil: () => {},
      requestId: "delegation_test",
    });

  it("activeDelegates follows chains to depth 2, per tenant, only while in force; onBehalfOf answers as deciding does", async () => {
    const [a, b, c, e] = await Promise.all(["a", "b", "c", "e"].map((name) => approverKey(unique(name), 4)));
    if (!a || !b || !c || !e) throw new Error("keys");
    await delegated(a, { delegate_id: b.principalId });
    await delegated(b, { delegate_id: c.principalId, tenant_id: "acme" });
    await delegated(c, { delegate_id: e.principalId });
    await delegated(a, { delegate_id: unique("later"), starts_at: inHours(1) });
    expect((await activeDelegates(ctx(), a.principalId, "acme")).sort()).toEqual(
      [b.principalId, c.principalId].sort(),
    );
    expect(await activeDelegates(ctx(), a.principalId, "globex")).toEqual([b.principalId]);
    const request = { tenantId: "acme", escalateTo: a.principalId, requestedBy: "agent-x" };
    expect(await onBehalfOf(ctx(), c, request)).toEqual({ onBehalfOf: a.principalId, requester: null });
    expect(await onBehalfOf(ctx(), e, request)).toEqual({ onBehalfOf: null, requester: null });
    expect(await onBehalfOf(ctx(), b, { ...request, requestedBy: a.principalId })).toEqual({
      onBehalfOf: null,
      requester: a.principalId,
    });
  });
});
