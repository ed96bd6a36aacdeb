// The console's policy pages (issue 29, src/console/policy-view.ts): admins only; the candidate list with
// shadow counts; a candidate's difference from the live policy for a known edit; its disagreements after
// shadowed evaluations; a plan with exact counts over seeded decisions; the shadow switch, its 409
// notice and CSRF; markup people wrote shown as text; unknown ids as the console's 404 page.
import { beforeAll, describe, expect, it } from "vitest";
import { form, signIn } from "./helpers/console.ts";
import { testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const CANDIDATES = "/api/v1/admin/policies/candidates";
const PAGE = "/console/admin/policy";
const MARKUP = `<script>alert("x")</script>`;

let admin: TestKey;
let agent: TestKey;
let session: { cookie: string; csrf: string };
const tenant = `cp-${crypto.randomUUID().slice(0, 8)}`;
const ids: Record<string, string[]> = { search: [], shell: [] };
let candidateId = "";
let rivalId = "";

async function adminPost(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await postJson(path, body, admin.headers);
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Record<string, unknown>;
}

async function evaluate(skill: string): Promise<{ decision_id: string; decision: string }> {
  const res = await postJson(
    "/api/v1/policy/eval",
    { skill_id: skill, tenant_id: tenant, agent_id: "bot-1", payload: { tokens: 100 } },
    agent.headers,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { decision_id: string; decision: string };
}

async function page(path: string, cookie = session.cookie): Promise<{ status: number; text: string }> {
  const res = await call(path, { headers: { Cookie: cookie } });
  return { status: res.status, text: await res.text() };
}

async function post(path: string, fields: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await call(path, form(fields, session.cookie));
  return { status: res.status, text: await res.text() };
}

const bundle = (rules: Record<string, unknown>[]) => ({
  format: "policy-bundle/v1",
  scope: tenant,
  capability_rules: rules.map((rule) => ({ tenant_id: tenant, ...rule })),
});

beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-console-policy" });
  agent = await createTestKey("agent");
  session = await signIn(admin);
  await adminPost("/api/v1/admin/policies/approval-levels", {
    policy_type: "cost",
    tenant_id: tenant,
    approval_level: "auto_approve",
  });
  await adminPost("/api/v1/admin/policies/capability-rules", {
    tenant_id: tenant,
    skill_pattern: "shell.*",
    effect: "deny",
    description: "old shell rule",
  });
  // Seeded traffic the plan replays: 3 allowed searches, 2 denied shell calls.
  for (let i = 0; i < 3; i++) {
    const answer = await evaluate("search.web");
    expect(answer.decision).toBe("allow");
    ids.search?.push(answer.decision_id);
  }
  for (let i = 0; i < 2; i++) {
    const answer = await evaluate("shell.exec");
    expect(answer.decision).toBe("deny");
    ids.shell?.push(answer.decision_id);
  }
  // The edit: shell becomes allowed (a changed row), search denied (an added row).
  const created = await adminPost(CANDIDATES, {
    description: `allow shell ${MARKUP}`,
    bundle: bundle([
      { skill_pattern: "shell.*", effect: "allow", description: `<b>now allowed</b>` },
      { skill_pattern: "search.*", effect: "deny" },
    ]),
  });
  candidateId = String(created.id);
  const rival = await adminPost(CANDIDATES, { description: "rival", bundle: bundle([]) });
  rivalId = String(rival.id);
});

describe("console policy pages", () => {
  it("are for admins only, the forms included", async () => {
    const approver = await createTestKey("approver", { maxLevel: 4 });
    const theirs = await signIn(approver);
    expect((await page(PAGE, theirs.cookie)).status).toBe(403);
    expect((await page(`${PAGE}/candidates/${candidateId}`, theirs.cookie)).status).toBe(403);
    const res = await call(
      `${PAGE}/candidates/${candidateId}/shadow`,
      form({ _csrf: theirs.csrf, shadow: "on" }, theirs.cookie),
    );
    expect(res.status).toBe(403);
    const plan = await call(
      `${PAGE}/candidates/${candidateId}/plan`,
      form({ _csrf: theirs.csrf }, theirs.cookie),
    );
    expect(plan.status).toBe(403);
    expect((await page(`${PAGE}/candidates/${candidateId}`)).text).toContain('id="shadow-state">off<');
  });

  it("lists the candidates with links, hashes, shadow state and counts; the admin navigation links it", async () => {
    const list = await page(PAGE);
    expect(list.status).toBe(200);
    expect(list.text).toContain(`href="${PAGE}/candidates/${candidateId}"`);
    expect(list.text).toContain(`href="${PAGE}/candidates/${rivalId}"`);
    expect(list.text).toContain("npm run policy -- shadow &lt;file&gt;");
    expect(list.text).toContain("0 compared, 0 disagreed");
    expect(list.text).toContain("ops-console-policy");
    expect((await page("/console/admin")).text).toContain(`<a href="${PAGE}">Policy</a>`);
  });

  it("shows what people wrote as text, never as markup", async () => {
    for (const path of [PAGE, `${PAGE}/candidates/${candidateId}`]) {
      const { text } = await page(path);
      expect(text).not.toContain(MARKUP);
      expect(text).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    }
    const { text } = await page(`${PAGE}/candidates/${candidateId}`);
    expect(text).not.toContain("<b>now allowed</b>");
    expect(text).toContain("&lt;b&gt;now allowed&lt;/b&gt;");
  });

  it("shows the candidate's difference from the live policy, field by field", async () => {
    const { status, text } = await page(`${PAGE}/candidates/${candidateId}`);
    expect(status).toBe(200);
    expect(text).toContain('<h3 id="diff-capability_rules">capability_rules</h3>');
    expect(text).toMatch(/<strong>added<\/strong> [^<]*skill_pattern=search\.\*[^<]*effect=deny/);
    expect(text).toContain("effect: deny → allow");
    expect(text).toContain("description: old shell rule → &lt;b&gt;now allowed&lt;/b&gt;");
    expect(text).not.toContain("<strong>removed</strong>");
    expect(text).not.toContain('id="diff-budgets"');
  });

  it("lists the rows the viewing key could not apply, for an admin below the top level only", async () => {
    expect((await page(`${PAGE}/candidates/${candidateId}`)).text).not.toContain("could not apply");
    const lower = await signIn(await createTestKey("admin", { maxLevel: 3 }));
    const { status, text } = await page(`${PAGE}/candidates/${candidateId}`, lower.cookie);
    expect(status).toBe(200);
    expect(text).toContain("Your key could not apply this bundle:");
    expect(text).toMatch(/<li>capability_rules\[\d\] \((added|changed)\): [^<]+<\/li>/);
  });

  it("shows a stored bundle that no longer parses without a difference or a plan, never an error page", async () => {
    const id = "pcd_badbadbadbad0c01";
    await testSql()`INSERT INTO policy_candidates (id, scope, bundle, bundle_sha256, base_sha256, shadow, created_by)
      VALUES (${id}, ${tenant}, ${JSON.stringify({ format: "policy-bundle/v1", scope: tenant, capability_rules: "oops" })}::jsonb,
        repeat('0', 64), repeat('0', 64), false, 'hand')`;
    const shown = await page(`${PAGE}/candidates/${id}`);
    expect(shown.status).toBe(200);
    expect(shown.text).toContain("The stored bundle does not parse: no difference can be shown.");
    const plan = await post(`${PAGE}/candidates/${id}/plan`, { _csrf: session.csrf });
    expect(plan.status).toBe(200);
    expect(plan.text).toContain("The stored bundle does not parse.");
    expect(plan.text).not.toContain('id="plan-replayed"');
    await testSql()`DELETE FROM policy_candidates WHERE id = ${id}`;
  });

  it("answers an unknown or malformed candidate id with the console's 404 page", async () => {
    for (const id of ["pcd_0000000000000000", "nope", "PCD_0000000000000000"]) {
      const res = await page(`${PAGE}/candidates/${id}`);
      expect(res.status).toBe(404);
      expect(res.text).toContain("No such policy candidate.");
    }
    const res = await post(`${PAGE}/candidates/pcd_0000000000000000/shadow`, {
      _csrf: session.csrf,
      shadow: "on",
    });
    expect(res.status).toBe(404);
    const plan = await post(`${PAGE}/candidates/pcd_0000000000000000/plan`, { _csrf: session.csrf });
    expect(plan.status).toBe(404);
  });

  it("plans the candidate against the last 7 days through planBundle, with exact counts", async () => {
    const { status, text } = await post(`${PAGE}/candidates/${candidateId}/plan`, { _csrf: session.csrf });
    expect(status).toBe(200);
    expect(text).toContain('<dd id="plan-replayed">5</dd>');
    expect(text).toContain('<dd id="plan-changed">5</dd>');
    expect(text).toContain('<dd id="plan-drifted">0</dd>');
    expect(text).toContain("overrides_used 0, no_replay_inputs 0, out_of_scope 0");
    expect(text).toContain("allow_to_deny 3, deny_to_allow 2");
    const rows = [
      ...text.matchAll(
        /<tr><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><td>(\d+)<\/td>\s*<td>([^<]*)<\/td><\/tr>/g,
      ),
    ];
    expect(rows.map((row) => row.slice(1, 5))).toEqual([
      [tenant, "search.web", "allow_to_deny", "3"],
      [tenant, "shell.exec", "deny_to_allow", "2"],
    ]);
    expect(ids.search).toContain(rows[0]?.[5]);
    expect(ids.shell).toContain(rows[1]?.[5]);
  });

  it("refuses a shadow switch without the session's CSRF token", async () => {
    for (const fields of [{ shadow: "on" }, { _csrf: "forged", shadow: "on" }] as Record<string, string>[]) {
      const res = await post(`${PAGE}/candidates/${candidateId}/shadow`, fields);
      expect(res.status).toBe(403);
    }
    const plan = await post(`${PAGE}/candidates/${candidateId}/plan`, {});
    expect(plan.status).toBe(403);
    expect((await page(`${PAGE}/candidates/${candidateId}`)).text).toContain('id="shadow-state">off<');
  });

  it("turns the shadow on, shows another candidate's 409 as a notice, and shows the disagreements", async () => {
    const bad = await post(`${PAGE}/candidates/${candidateId}/shadow`, {
      _csrf: session.csrf,
      shadow: "maybe",
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("Choose shadow on or off.");
    expect(bad.text).toContain('id="shadow-state">off<');

    const on = await post(`${PAGE}/candidates/${candidateId}/shadow`, { _csrf: session.csrf, shadow: "on" });
    expect(on.status).toBe(200);
    expect(on.text).toContain("Shadow on.");
    expect(on.text).toContain('id="shadow-state">on<');

    const refused = await post(`${PAGE}/candidates/${rivalId}/shadow`, { _csrf: session.csrf, shadow: "on" });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain(`Candidate ${candidateId} already shadows scope ${tenant}`);
    expect(refused.text).toContain(`<h1>Candidate ${rivalId}</h1>`);
    expect(refused.text).toContain('id="shadow-state">off<');

    // Shadowed traffic: 2 shell calls the candidate would allow, 1 email call it answers alike.
    const shell = [await evaluate("shell.exec"), await evaluate("shell.exec")];
    await evaluate("email.read");
    const { text } = await page(`${PAGE}/candidates/${candidateId}`);
    expect(text).toContain("3 compared, 2 disagreed");
    expect(text).toMatch(/<li>deny → allow(?: \(level [+-]\d+\))?: 2<\/li>/);
    for (const answer of shell) expect(text).toContain(`<td>${answer.decision_id}</td>`);
    expect((await page(PAGE)).text).toContain("3 compared, 2 disagreed");

    const off = await post(`${PAGE}/candidates/${candidateId}/shadow`, {
      _csrf: session.csrf,
      shadow: "off",
    });
    expect(off.text).toContain("Shadow off.");
    const rivalOn = await post(`${PAGE}/candidates/${rivalId}/shadow`, { _csrf: session.csrf, shadow: "on" });
    expect(rivalOn.status).toBe(200);
    expect(rivalOn.text).toContain('id="shadow-state">on<');
  });
});
