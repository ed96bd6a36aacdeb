// Slack administration (issue 26) through its real entry points: the admin API's workspaces (each
// field's rules, secrets sealed and never in an answer, list, log or audit row, a team held by one
// tenant, replace and disconnect), admin links (409 on another principal, levels), and the self-service
// link codes: minted by the console's Slack page behind its CSRF token, redeemed by redeemSlackLinkCode
// (forged, expired, another tenant's, used twice, raced, a principal without a deciding key, a view
// token passed off as a code). Tenant-scoped admin keys are confined; non-admins are refused. A new bot
// token is checked with Slack's auth.test (the fake, scripts/lib/fake-slack.ts) before anything is stored.
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { mintSlackLinkCode, slackLinkCodeKey } from "../src/domain/slack-link-code.ts";
import { mintViewToken, viewTokenKey } from "../src/domain/view-token.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext } from "../src/services/context.ts";
import { redeemSlackLinkCode } from "../src/services/slack/link-codes.ts";
import { loadSlackWorkspace } from "../src/services/slack/workspace.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { TEST_WEBHOOK_ENCRYPTION_KEY } from "./setup/test-secrets.ts";

const WORKSPACES = "/api/v1/admin/slack/workspaces";
const RECEIVER = inject("webhookReceiverUrl");
const SIGNING = "0123456789abcdef0123456789abcdef";
const SIGNING_2 = "fedcba9876543210fedcba9876543210";

let admin: TestKey;
let acmeAdmin: TestKey;
let lowAdmin: TestKey;
let approver: TestKey;
let agent: TestKey;
let unique = 0;

beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "slack-ops" });
  acmeAdmin = await createTestKey("admin", { principalId: "acme-slack-ops", tenantId: "acme", maxLevel: 5 });
  lowAdmin = await createTestKey("admin", { principalId: "low-ops", maxLevel: 2 });
  approver = await createTestKey("approver", { maxLevel: 4 });
  agent = await createTestKey("agent");
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Ids no other test uses: a tenant, a team, a bot token of that team (the fake reads the team from it). */
function fresh() {
  const n = `${Date.now().toString(36)}${unique++}`.toUpperCase();
  return { tenant: `t-${n.toLowerCase()}`, team: `T${n}`, token: tokenOf(`T${n}`) };
}

/** A bot token of `team` at the fake Slack (scripts/lib/fake-slack.ts): `xoxb-<team>-…`. */
function tokenOf(team: string, scenario = "ok"): string {
  return `xoxb-${team}-${scenario}-${unique++}-secretbot`;
}

function ctx() {
  return createServiceContext({
    env: testEnv(),
    log: createLogger("error"),
    metrics: new MetricsBuffer(),
    waitUntil: () => {},
    requestId: null,
  });
}

async function put(
  tenant: string,
  body: Record<string, unknown>,
  key: TestKey = admin,
  env: Record<string, string> = {},
) {
  const res = await call(
    `${WORKSPACES}/${tenant}`,
    {
      method: "PUT",
      headers: { ...key.headers, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    },
    env,
  );
  const text = await res.text();
  return {
    status: res.status,
    text,
    retryAfter: res.headers.get("Retry-After"),
    body: JSON.parse(text) as Record<string, unknown> & ErrorEnvelope,
  };
}

/** The Web API methods the fake Slack saw called with `token`, oldest first. */
async function slackCalls(token: string): Promise<string[]> {
  const res = await fetch(`${RECEIVER}/slack/_calls?token=${encodeURIComponent(token)}`);
  return ((await res.json()) as { method: string }[]).map((c) => c.method);
}

/** The audit rows about `tenant`'s workspace. */
async function workspaceAudits(tenant: string) {
  return testSql()`SELECT action FROM audit_events WHERE target_type = 'slack_workspace' AND target_id = ${tenant}`;
}

async function connect(tenant: string, team: string, token: string, extra: Record<string, unknown> = {}) {
  const made = await put(tenant, {
    team_id: team,
    bot_token: token,
    signing_secret: SIGNING,
    default_channel: "C0DEFAULT",
    ...extra,
  });
  expect(made.status, made.text).toBe(201);
  return made.body;
}

async function postLink(tenant: string, body: Record<string, unknown>, key: TestKey = admin) {
  const res = await call(`${WORKSPACES}/${tenant}/links`, {
    method: "POST",
    headers: { ...key.headers, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & ErrorEnvelope };
}

/** A principal that decides `tenant`'s requests (an approver key covering it): only such a one is linked. */
async function decider(tenant: string, principalId: string, maxLevel = 3) {
  return createTestKey("approver", { principalId, tenantId: tenant, maxLevel });
}

function issuePaths(body: ErrorEnvelope): string[] {
  return ((body.error.details as { issues?: { path: string }[] } | undefined)?.issues ?? []).map(
    (i) => i.path,
  );
}

describe("slack workspaces: connect, replace, read", () => {
  it("connects (201), folds ids, answers no secret, seals both, and replaces (200) keeping omitted secrets", async () => {
    const { tenant, team, token } = fresh();
    const made = await put(tenant.toUpperCase(), {
      team_id: team.toLowerCase(),
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: " c0default ",
      routes: [
        { skill_pattern: "Email.*", channel: "c0email" },
        { level: 5, channel: "G0OWNERS" },
      ],
    });
    expect(made.status, made.text).toBe(201);
    expect(made.body).toMatchObject({
      tenant_id: tenant,
      team_id: team,
      default_channel: "C0DEFAULT",
      routes: [
        { skill_pattern: "email.*", channel: "C0EMAIL" },
        { level: 5, channel: "G0OWNERS" },
      ],
      max_decide_level: 4,
      has_bot_token: true,
      has_signing_secret: true,
      created_by: "slack-ops",
    });
    expect(made.text).not.toContain(token);
    expect(made.text).not.toContain(SIGNING);

    const [stored] = (await testSql()`
      SELECT bot_token_encrypted, signing_secret_encrypted FROM slack_workspaces WHERE tenant_id = ${tenant}`) as {
      bot_token_encrypted: string;
      signing_secret_encrypted: string;
    }[];
    expect(JSON.stringify(stored)).not.toContain(token.slice(5));
    expect(JSON.stringify(stored)).not.toContain(SIGNING);
    const opened = await loadSlackWorkspace(ctx(), tenant);
    expect(opened).toMatchObject({
      teamId: team,
      botToken: token,
      signingSecret: SIGNING,
      maxDecideLevel: 4,
    });

    const replaced = await put(tenant, { team_id: team, default_channel: "C0OTHER", max_decide_level: 2 });
    expect(replaced.status, replaced.text).toBe(200);
    expect(replaced.body).toMatchObject({ default_channel: "C0OTHER", max_decide_level: 2, routes: [] });
    const reopened = await loadSlackWorkspace(ctx(), tenant);
    expect(reopened).toMatchObject({ botToken: token, signingSecret: SIGNING, defaultChannel: "C0OTHER" });

    const rotated = await put(tenant, {
      team_id: team,
      default_channel: "C0OTHER",
      signing_secret: SIGNING_2,
    });
    expect(rotated.status).toBe(200);
    expect(await loadSlackWorkspace(ctx(), tenant)).toMatchObject({
      botToken: token,
      signingSecret: SIGNING_2,
    });

    const read = await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers });
    expect(read.status).toBe(200);
    const readText = await read.text();
    expect(JSON.parse(readText)).toMatchObject({ tenant_id: team ? tenant : "", team_id: team });
    expect(readText).not.toMatch(/xoxb-|v1\./);
    expect(readText).not.toContain(SIGNING_2);
  });

  it("refuses a first connection without either secret (400, nothing stored)", async () => {
    const { tenant, team, token } = fresh();
    const noToken = await put(tenant, { team_id: team, signing_secret: SIGNING, default_channel: "C1" });
    expect(noToken.status).toBe(400);
    expect(issuePaths(noToken.body)).toContain("bot_token");
    const noSecret = await put(tenant, { team_id: team, bot_token: token, default_channel: "C1" });
    expect(noSecret.status).toBe(400);
    expect(issuePaths(noSecret.body)).toContain("signing_secret");
    expect((await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers })).status).toBe(404);
  });

  it("refuses each malformed field with a 400 naming it, never a 500", async () => {
    const { tenant, team, token } = fresh();
    const good = { team_id: team, bot_token: token, signing_secret: SIGNING, default_channel: "C0GOOD" };
    const cases: [string, Record<string, unknown>][] = [
      ["team_id", { team_id: "C0NOTATEAM" }],
      ["team_id", { team_id: "T" }],
      ["team_id", { team_id: "T0-BAD" }],
      ["team_id", { team_id: `T${"A".repeat(40)}` }],
      ["team_id", { team_id: "T0\u0000A" }],
      ["team_id", { team_id: 42 }],
      ["default_channel", { default_channel: "U0USER" }],
      ["default_channel", { default_channel: "#general" }],
      ["default_channel", { default_channel: "<!channel>" }],
      ["bot_token", { bot_token: "xoxp-1111-user-token" }],
      ["bot_token", { bot_token: "xoxb-" }],
      ["bot_token", { bot_token: "xoxb-abc def" }],
      ["bot_token", { bot_token: `xoxb-${"a".repeat(300)}` }],
      ["bot_token", { bot_token: "xoxb-abc\nX-Injected: 1" }],
      ["signing_secret", { signing_secret: SIGNING.toUpperCase() }],
      ["signing_secret", { signing_secret: SIGNING.slice(1) }],
      ["signing_secret", { signing_secret: `${SIGNING}0` }],
      ["signing_secret", { signing_secret: "g123456789abcdef0123456789abcdef" }],
      ["routes", { routes: Array.from({ length: 51 }, () => ({ level: 3, channel: "C0R" })) }],
      ["routes", { routes: "C0R" }],
      ["routes.0.skill_pattern", { routes: [{ channel: "C0R" }] }],
      ["routes.0.skill_pattern", { routes: [{ skill_pattern: "email.*.x*y", channel: "C0R" }] }],
      ["routes.0.skill_pattern", { routes: [{ skill_pattern: "e mail", channel: "C0R" }] }],
      ["routes.0.channel", { routes: [{ level: 3, channel: "W0USER" }] }],
      ["routes.0.level", { routes: [{ level: 6, channel: "C0R" }] }],
      ["routes.0", { routes: [{ level: 3, channel: "C0R", extra: true }] }],
      ["max_decide_level", { max_decide_level: 0 }],
      ["max_decide_level", { max_decide_level: 6 }],
      ["max_decide_level", { max_decide_level: 2.5 }],
      ["max_decide_level", { max_decide_level: "4" }],
      ["", { webhook_url: "https://evil.example" }],
    ];
    for (const [field, change] of cases) {
      const { status, body, text } = await put(tenant, { ...good, ...change });
      expect(status, `${field} ${JSON.stringify(change).slice(0, 80)}`).toBe(400);
      expect(body.error.code, text).toBe("validation_failed");
      if (field) expect(issuePaths(body), text).toContain(field);
      expect(text).not.toContain(token);
    }
    for (const badTenant of ["a%20b", "%00", "x".repeat(201)]) {
      const res = await put(badTenant, good);
      expect(res.status, badTenant).toBe(400);
    }
    expect((await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers })).status).toBe(404);
    // Channel and team ids are only these shapes: nothing mrkdwn could read as a mention gets stored.
    const ok = await put(tenant, { ...good, routes: [{ skill_pattern: "*", channel: "C0ALL" }] });
    expect(ok.status, ok.text).toBe(201);
  });

  it("holds a Slack team to one tenant: another tenant's admin cannot take it over (409)", async () => {
    const first = fresh();
    const second = fresh();
    await connect(first.tenant, first.team, first.token);
    // Holding a token of the team (another app installed in it, say) is not enough either.
    const grab = await put(second.tenant, {
      team_id: first.team,
      bot_token: tokenOf(first.team),
      signing_secret: SIGNING,
      default_channel: "C0X",
    });
    expect(grab.status).toBe(409);
    expect(grab.body.error.code).toBe("conflict");
    expect((await call(`${WORKSPACES}/${second.tenant}`, { headers: admin.headers })).status).toBe(404);
    // Nor by replacing its own workspace's team with it.
    await connect(second.tenant, second.team, second.token);
    expect(
      (
        await put(second.tenant, {
          team_id: first.team,
          bot_token: tokenOf(first.team),
          default_channel: "C0X",
        })
      ).status,
    ).toBe(409);
    expect(await loadSlackWorkspace(ctx(), first.tenant)).toMatchObject({ botToken: first.token });
    // Two tenants racing for one new team: exactly one gets it.
    const free = fresh();
    const racers = [fresh(), fresh(), fresh()];
    const results = await Promise.all(
      racers.map((r) =>
        put(r.tenant, {
          team_id: free.team,
          bot_token: tokenOf(free.team),
          signing_secret: SIGNING,
          default_channel: "C0X",
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409]);
  });
});

describe("slack workspaces: the bot token checked with Slack (auth.test)", () => {
  it("connects with a token Slack accepts for the team, answering what Slack said of it", async () => {
    const { tenant, team, token } = fresh();
    const made = await put(tenant, {
      team_id: team.toLowerCase(),
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(made.status, made.text).toBe(201);
    expect(made.body).toMatchObject({
      team_id: team,
      has_bot_token: true,
      token_check: { team_id: team, team_name: `Fake team ${team}`, bot_user_id: `U${team.slice(1)}BOT` },
    });
    expect(made.text).not.toContain(token);
    expect(await slackCalls(token)).toEqual(["auth.test"]);
    // Read back later, the workspace has no token_check: it is the answer to the connect only.
    const read = await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers });
    expect(await read.json()).not.toHaveProperty("token_check");
  });

  it("refuses a token Slack refuses: 400 naming bot_token, nothing stored, no audit row, the stored token kept", async () => {
    const { tenant, team } = fresh();
    const invalid = tokenOf(team, "invalid");
    const refused = await put(tenant, {
      team_id: team,
      bot_token: invalid,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.error.code).toBe("validation_failed");
    expect(issuePaths(refused.body)).toEqual(["bot_token"]);
    expect(refused.text).toContain("invalid_auth");
    expect(refused.text).not.toContain(invalid);
    expect(await slackCalls(invalid)).toEqual(["auth.test"]);
    expect((await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers })).status).toBe(404);
    expect(await workspaceAudits(tenant)).toHaveLength(0);

    // A replace with a bad token leaves the good one in place, and every other field too.
    const good = tokenOf(team);
    await connect(tenant, team, good);
    const replaced = await put(tenant, {
      team_id: team,
      bot_token: tokenOf(team, "invalid"),
      default_channel: "C0NEW",
    });
    expect(replaced.status).toBe(400);
    expect(await loadSlackWorkspace(ctx(), tenant)).toMatchObject({
      botToken: good,
      defaultChannel: "C0DEFAULT",
    });
    expect(await workspaceAudits(tenant)).toHaveLength(1);
  });

  it("refuses another team's token: 400 naming team_id with both team ids, never the token", async () => {
    const mine = fresh();
    const theirs = fresh();
    // An admin who holds team B's token cannot have it stored as team A's (nor mistype the team).
    const refused = await put(mine.tenant, {
      team_id: mine.team,
      bot_token: theirs.token,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(refused.status, refused.text).toBe(400);
    expect(issuePaths(refused.body)).toEqual(["team_id"]);
    expect(refused.text).toContain(mine.team);
    expect(refused.text).toContain(theirs.team);
    expect(refused.text).not.toContain(theirs.token);
    expect((await call(`${WORKSPACES}/${mine.tenant}`, { headers: admin.headers })).status).toBe(404);
    // A token that names no team at the fake is the default team's (TLOCAL): refused for any other.
    const unnamed = await put(mine.tenant, {
      team_id: mine.team,
      bot_token: "xoxb-1111-2222-unnamedteam",
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(unnamed.status).toBe(400);
    expect(unnamed.text).toContain("TLOCAL");
    expect(await workspaceAudits(mine.tenant)).toHaveLength(0);
  });

  it("answers 503 upstream_unavailable when Slack fails, rate limits, is unreachable or silent: nothing stored", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const { tenant, team } = fresh();
    const body = (token: string) => ({
      team_id: team,
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    const failing = tokenOf(team, "fail500-5");
    const limited = tokenOf(team, "ratelimited-5");
    const cases: [string, string, Record<string, string>, string][] = [
      ["500", failing, {}, "10"],
      ["429", limited, {}, "3"],
      // A closed port: nothing listens there.
      ["unreachable", tokenOf(team), { SLACK_API_BASE_URL: "http://127.0.0.1:1/slack/api/" }, "10"],
    ];
    for (const [name, token, env, retryAfter] of cases) {
      const res = await put(tenant, body(token), admin, env);
      expect(res.status, `${name}: ${res.text}`).toBe(503);
      expect(res.body.error.code).toBe("upstream_unavailable");
      expect(res.body.error.message).toMatch(/nothing was stored/);
      expect(res.retryAfter, name).toBe(retryAfter);
      expect(res.text).not.toContain(token);
    }
    expect(await slackCalls(failing)).toEqual(["auth.test"]);
    expect(await slackCalls(limited)).toEqual(["auth.test"]);
    expect((await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers })).status).toBe(404);
    expect(await workspaceAudits(tenant)).toHaveLength(0);
    const logged = lines.join("\n");
    expect(logged).toContain("slack_token_check_unavailable");
    for (const [, token] of cases) expect(logged).not.toContain(token);
    expect(logged).not.toMatch(/xoxb-/);
  });

  it("gives up on a Slack that never answers within a few seconds (503, nothing stored)", async () => {
    const { tenant, team, token } = fresh();
    const started = Date.now();
    const res = await put(
      tenant,
      { team_id: team, bot_token: token, signing_secret: SIGNING, default_channel: "C0DEFAULT" },
      admin,
      { SLACK_API_BASE_URL: `${RECEIVER}/hooks/hang/` },
    );
    expect(res.status, res.text).toBe(503);
    expect(res.body.error.code).toBe("upstream_unavailable");
    expect(Date.now() - started).toBeLessThan(9_000);
    expect((await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers })).status).toBe(404);
  });

  it("calls Slack only for a new token: replacing the channel, routes or secret does not", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    expect(await slackCalls(token)).toEqual(["auth.test"]);
    const replaced = await put(tenant, {
      team_id: team,
      default_channel: "C0ELSEWHERE",
      signing_secret: SIGNING_2,
      routes: [{ level: 5, channel: "G0OWNERS" }],
    });
    expect(replaced.status, replaced.text).toBe(200);
    expect(replaced.body).not.toHaveProperty("token_check");
    // Even a Slack that is down does not matter then.
    const offline = await put(tenant, { team_id: team, default_channel: "C0THIRD" }, admin, {
      SLACK_API_BASE_URL: "http://127.0.0.1:1/slack/api/",
    });
    expect(offline.status, offline.text).toBe(200);
    expect(await slackCalls(token)).toEqual(["auth.test"]);
    // A new token is checked again, and the log says it was (never the token).
    const rotated = tokenOf(team);
    expect(
      (await put(tenant, { team_id: team, bot_token: rotated, default_channel: "C0THIRD" })).status,
    ).toBe(200);
    expect(await slackCalls(rotated)).toEqual(["auth.test"]);
    const logged = lines.join("\n");
    expect(logged).toMatch(/slack_workspace_updated.*token_checked.*true/);
    expect(logged).not.toMatch(/xoxb-/);
  });

  it("checks nothing for a key that may not connect: no Slack call before the permission and tenant checks", async () => {
    const { tenant, team } = fresh();
    const probe = tokenOf(team);
    const body = { team_id: team, bot_token: probe, signing_secret: SIGNING, default_channel: "C0A" };
    expect((await put(tenant, body, acmeAdmin)).status).toBe(403);
    expect((await put(tenant, body, approver)).status).toBe(403);
    expect((await put(tenant, { ...body, default_channel: "#general" })).status).toBe(400);
    expect(await slackCalls(probe)).toEqual([]);
  });
});

describe("slack workspaces: scope, listing, disconnecting, auditing", () => {
  it("confines a tenant-scoped admin key to its tenant and refuses approvers and agents", async () => {
    const { team, token } = fresh();
    const other = fresh();
    await connect(other.tenant, other.team, other.token);
    const body = { team_id: team, bot_token: token, signing_secret: SIGNING, default_channel: "C0A" };
    expect((await put(other.tenant, body, acmeAdmin)).status).toBe(403);
    expect((await call(`${WORKSPACES}/${other.tenant}`, { headers: acmeAdmin.headers })).status).toBe(403);
    const del = await call(`${WORKSPACES}/${other.tenant}`, { method: "DELETE", headers: acmeAdmin.headers });
    expect(del.status).toBe(403);
    expect(
      (await postLink(other.tenant, { slack_user_id: "U0X", principal_id: "p" }, acmeAdmin)).status,
    ).toBe(403);
    const links = await call(`${WORKSPACES}/${other.tenant}/links`, { headers: acmeAdmin.headers });
    expect(links.status).toBe(403);
    // Its own tenant works, and its list shows nothing else.
    const acmeTeam = `TACME${team.slice(1)}`;
    const acme = await put("acme", { ...body, team_id: acmeTeam, bot_token: tokenOf(acmeTeam) }, acmeAdmin);
    expect([200, 201]).toContain(acme.status);
    const list = (await (await call(WORKSPACES, { headers: acmeAdmin.headers })).json()) as {
      tenant_id: string;
    }[];
    expect(list.map((w) => w.tenant_id)).toEqual(["acme"]);
    for (const key of [approver, agent]) {
      expect((await put(other.tenant, body, key)).status).toBe(403);
      expect((await call(WORKSPACES, { headers: key.headers })).status).toBe(403);
    }
    expect(await loadSlackWorkspace(ctx(), other.tenant)).toMatchObject({ botToken: other.token });
  });

  it("lists, audits and logs without a token or secret; disconnects with the team's links (then 404)", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    await put(tenant, { team_id: team, default_channel: "C0NEXT", signing_secret: SIGNING_2 });
    await decider(tenant, "alice");
    expect((await postLink(tenant, { slack_user_id: "U0ALICE", principal_id: "alice" })).status).toBe(201);
    const listText = await (await call(`${WORKSPACES}?limit=500`, { headers: admin.headers })).text();
    expect(listText).toContain(tenant);
    expect(listText).not.toMatch(/xoxb-|v1\./);
    expect(listText).not.toContain(SIGNING_2);

    const gone = await call(`${WORKSPACES}/${tenant}`, { method: "DELETE", headers: admin.headers });
    expect(gone.status).toBe(200);
    expect(await gone.json()).toMatchObject({ tenant_id: tenant, team_id: team, links_removed: 1 });
    expect((await call(`${WORKSPACES}/${tenant}`, { method: "DELETE", headers: admin.headers })).status).toBe(
      404,
    );
    const left = await testSql()`SELECT 1 FROM slack_user_links WHERE team_id = ${team}`;
    expect(left).toHaveLength(0);

    const events = (await testSql()`
      SELECT action, before, after FROM audit_events
       WHERE (target_type = 'slack_workspace' AND target_id = ${tenant})
          OR (target_type = 'slack_user_link' AND target_id = ${`${team}/U0ALICE`}) ORDER BY id`) as {
      action: string;
      before: Record<string, unknown> | null;
      after: Record<string, unknown> | null;
    }[];
    expect(events.map((e) => e.action)).toEqual([
      "slack.workspace.connect",
      "slack.workspace.update",
      "slack.link.create",
      "slack.workspace.disconnect",
    ]);
    expect(events[1]?.after).toMatchObject({
      tenant_id: tenant,
      default_channel: "C0NEXT",
      bot_token_replaced: false,
      signing_secret_replaced: true,
    });
    expect(events[3]?.after).toMatchObject({ links_removed: 1 });
    const audited = JSON.stringify(events);
    expect(audited).not.toMatch(/xoxb-|v1\./);
    expect(audited).not.toContain(SIGNING);
    expect(audited).not.toContain(SIGNING_2);
    // The chain is the tenant's.
    const chained = await testSql()`SELECT 1 FROM audit_chain WHERE chain_id = ${tenant}`;
    expect(chained.length).toBeGreaterThanOrEqual(4);

    const logged = lines.join("\n");
    expect(logged).toContain("slack_workspace_connected");
    expect(logged).not.toContain(token);
    expect(logged).not.toMatch(/xoxb-|v1\./);
    expect(logged).not.toContain(SIGNING);
  });

  it("drops the old team's links when a workspace moves to another team", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    await decider(tenant, "bob");
    expect((await postLink(tenant, { slack_user_id: "U0BOB", principal_id: "bob" })).status).toBe(201);
    const moved = fresh();
    // The stored token is the old team's: a move without the new team's token is refused, nothing changed.
    const tokenless = await put(tenant, { team_id: moved.team, default_channel: "C0X" });
    expect(tokenless.status, tokenless.text).toBe(400);
    expect(issuePaths(tokenless.body)).toEqual(["bot_token"]);
    expect(tokenless.body.error.details).toMatchObject({
      issues: [{ message: expect.stringContaining(moved.team) }],
    });
    expect(await testSql()`SELECT 1 FROM slack_user_links WHERE team_id = ${team}`).toHaveLength(1);
    const res = await put(tenant, { team_id: moved.team, bot_token: moved.token, default_channel: "C0X" });
    expect(res.status, res.text).toBe(200);
    expect(await testSql()`SELECT 1 FROM slack_user_links WHERE team_id = ${team}`).toHaveLength(0);
    const links = (await (
      await call(`${WORKSPACES}/${tenant}/links`, { headers: admin.headers })
    ).json()) as unknown[];
    expect(links).toEqual([]);
  });
});

describe("slack links: the admin mapping", () => {
  it("links (201), answers the same link again (200), refuses another principal (409), lists and unlinks", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    await decider(tenant, "carol");
    await decider(tenant, "mallory");
    const made = await postLink(tenant, { slack_user_id: "u0carol", principal_id: " Carol " });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      tenant_id: tenant,
      team_id: team,
      slack_user_id: "U0CAROL",
      principal_id: "carol",
      method: "admin",
      linked_by: "slack-ops",
    });
    expect((await postLink(tenant, { slack_user_id: "U0CAROL", principal_id: "carol" })).status).toBe(200);
    const stolen = await postLink(tenant, { slack_user_id: "U0CAROL", principal_id: "mallory" });
    expect(stolen.status).toBe(409);
    expect(stolen.body.error.message).toMatch(/unlink it first/);
    expect((await postLink(tenant, { slack_user_id: "W0GRID", principal_id: "carol" })).status).toBe(201);

    const list = (await (
      await call(`${WORKSPACES}/${tenant}/links?principal_id=CAROL`, { headers: admin.headers })
    ).json()) as { slack_user_id: string }[];
    expect(list.map((l) => l.slack_user_id).sort()).toEqual(["U0CAROL", "W0GRID"]);

    const del = await call(`${WORKSPACES}/${tenant}/links/u0carol`, {
      method: "DELETE",
      headers: admin.headers,
    });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ slack_user_id: "U0CAROL", principal_id: "carol" });
    const again = await call(`${WORKSPACES}/${tenant}/links/U0CAROL`, {
      method: "DELETE",
      headers: admin.headers,
    });
    expect(again.status).toBe(404);
    expect((await postLink(tenant, { slack_user_id: "U0CAROL", principal_id: "mallory" })).status).toBe(201);
  });

  it("refuses malformed ids, unknown fields and a tenant without a workspace", async () => {
    const { tenant, team, token } = fresh();
    expect((await postLink(tenant, { slack_user_id: "U0X", principal_id: "p" })).status).toBe(404);
    await connect(tenant, team, token);
    for (const body of [
      { slack_user_id: "C0CHANNEL", principal_id: "p" },
      { slack_user_id: "<@U0X>", principal_id: "p" },
      { slack_user_id: "U", principal_id: "p" },
      { slack_user_id: "U0X", principal_id: "p q" },
      { slack_user_id: "U0X", principal_id: "" },
      { slack_user_id: "U0X" },
      { slack_user_id: "U0X", principal_id: "p", method: "console" },
    ]) {
      const res = await postLink(tenant, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    for (const id of ["C0X", "u0-x", "%3C%40U0X%3E"]) {
      const res = await call(`${WORKSPACES}/${tenant}/links/${id}`, {
        method: "DELETE",
        headers: admin.headers,
      });
      expect(res.status, id).toBe(400);
    }
  });

  it("lets no admin link a principal that decides above the admin's own level", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    const owner = await createTestKey("approver", { maxLevel: 5, tenantId: tenant });
    const refused = await postLink(
      tenant,
      { slack_user_id: "U0LOW", principal_id: owner.principalId },
      lowAdmin,
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/above your own level/);
    expect((await postLink(tenant, { slack_user_id: "U0LOW", principal_id: owner.principalId })).status).toBe(
      201,
    );
  });

  it("links only a principal that decides the tenant's requests: never an unknown one, to come alive later", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    const other = fresh();
    const elsewhere = await createTestKey("approver", { maxLevel: 2, tenantId: other.tenant });
    const agentOnly = await createTestKey("agent", { tenantId: tenant });
    const revoked = await createTestKey("approver", { maxLevel: 2, tenantId: tenant, revoked: true });
    const ghost = `ghost-${tenant}`;
    for (const principalId of [ghost, elsewhere.principalId, agentOnly.principalId, revoked.principalId]) {
      const refused = await postLink(tenant, { slack_user_id: "U0LATER", principal_id: principalId });
      expect(refused.status, principalId).toBe(400);
      expect(issuePaths(refused.body)).toEqual(["principal_id"]);
      expect(JSON.stringify(refused.body)).toContain(
        `${principalId} holds no live approver or admin key covering tenant ${tenant}`,
      );
    }
    expect(await testSql()`SELECT 1 FROM slack_user_links WHERE team_id = ${team}`).toHaveLength(0);
    // Pre-linking a name that later gets a level-5 key would have let a level-2 admin's Slack account act at 5.
    await createTestKey("approver", { principalId: ghost, maxLevel: 5, tenantId: tenant });
    expect((await postLink(tenant, { slack_user_id: "U0LATER", principal_id: ghost }, lowAdmin)).status).toBe(
      403,
    );
    // An admin key decides too: a tenant's admin can be linked.
    const tenantAdmin = await createTestKey("admin", { maxLevel: 2, tenantId: tenant });
    expect(
      (await postLink(tenant, { slack_user_id: "U0ADMIN", principal_id: tenantAdmin.principalId })).status,
    ).toBe(201);
  });
});

/** Signs `key` in and asks the console's Slack page for a code in `tenant`: the code and the page. */
async function consoleCode(key: TestKey, tenant: string) {
  const session = await signIn(key);
  const res = await call(
    "/console/slack/code",
    form({ _csrf: session.csrf, tenant_id: tenant }, session.cookie),
  );
  const page = await res.text();
  const code = /\/policy link ([A-Za-z0-9_.-]+)<\/pre>/.exec(page)?.[1];
  return { status: res.status, page, code, session };
}

describe("slack links: link codes from the console, redeemed from Slack", () => {
  it("mints a code for the signed-in approver, shown once, and redeems it once", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    const dana = await createTestKey("approver", { maxLevel: 3, tenantId: tenant });
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const { status, page, code, session } = await consoleCode(dana, tenant);
    expect(status, page).toBe(200);
    expect(code).toBeDefined();
    expect(page).toContain("10 minutes");
    const shown = await call(`/console/slack?tenant=${tenant}`, { headers: { Cookie: session.cookie } });
    expect(await shown.text()).not.toContain(code ?? "-");

    const redeemed = await redeemSlackLinkCode(ctx(), {
      tenantId: tenant,
      teamId: team,
      slackUserId: "U0DANA",
      code: code ?? "",
    });
    expect(redeemed).toMatchObject({
      linked: true,
      principalId: dana.principalId,
      created: true,
      link: { slack_user_id: "U0DANA", method: "console", principal_id: dana.principalId, team_id: team },
    });
    // The same code again: by the same account or by anyone else, refused as used.
    for (const user of ["U0DANA", "U0EVE"]) {
      const again = await redeemSlackLinkCode(ctx(), {
        tenantId: tenant,
        teamId: team,
        slackUserId: user,
        code: code ?? "",
      });
      expect(again).toMatchObject({ linked: false, reason: "used" });
    }
    const page2 = await (
      await call(`/console/slack?tenant=${tenant}`, { headers: { Cookie: session.cookie } })
    ).text();
    expect(page2).toContain("U0DANA");
    expect(page2).not.toContain("U0EVE");

    const [event] = (await testSql()`
      SELECT actor, action, target_type, after FROM audit_events
       WHERE action = 'slack.link.redeem' AND after ->> 'team_id' = ${team}`) as {
      actor: string;
      action: string;
      target_type: string;
      after: Record<string, unknown>;
    }[];
    expect(event).toMatchObject({
      actor: dana.principalId,
      target_type: "slack_link_code",
      after: {
        tenant_id: tenant,
        slack_user_id: "U0DANA",
        principal_id: dana.principalId,
        method: "console",
      },
    });
    expect(JSON.stringify(event)).not.toContain(code ?? "-");
    const logged = lines.join("\n");
    expect(logged).toContain("slack_link_code_issued");
    expect(logged).not.toContain(code ?? "-");
    expect(logged).not.toContain((code ?? "-").split(".")[1]);
  });

  it("refuses forged, tampered, expired, other-tenant and view-token codes", async () => {
    const { tenant, team, token } = fresh();
    const other = fresh();
    await connect(tenant, team, token);
    await connect(other.tenant, other.team, other.token);
    const erin = await createTestKey("approver", { maxLevel: 3 });
    const key = await slackLinkCodeKey(TEST_WEBHOOK_ENCRYPTION_KEY);
    const redeem = (code: string, who = { tenantId: tenant, teamId: team }) =>
      redeemSlackLinkCode(ctx(), { ...who, slackUserId: "U0ERIN", code });

    const genuine = (await mintSlackLinkCode(key, { tenantId: tenant, principalId: erin.principalId })).code;
    const [body = "", mac = ""] = genuine.split(".");
    // Claims rewritten to another principal, with the old MAC: forged.
    const rewritten = btoa(
      JSON.stringify({ ...JSON.parse(atob(body.replaceAll("-", "+").replaceAll("_", "/"))), p: "ceo" }),
    )
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replace(/=+$/, "");
    expect(await redeem(`${rewritten}.${mac}`)).toMatchObject({ linked: false, reason: "forged" });
    const flipped = `${body}.${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`;
    expect(await redeem(flipped)).toMatchObject({ linked: false, reason: "forged" });
    // Signed with another key (another deployment's): forged.
    const otherKey = await slackLinkCodeKey(btoa("another-deployment-key-32-bytes!"));
    const foreign = (await mintSlackLinkCode(otherKey, { tenantId: tenant, principalId: erin.principalId }))
      .code;
    expect(await redeem(foreign)).toMatchObject({ linked: false, reason: "forged" });
    // A view token (same master secret, its own HKDF key) is no link code.
    const view = await mintViewToken(await viewTokenKey(TEST_WEBHOOK_ENCRYPTION_KEY), {
      requestId: "apr_0123456789abcdef",
      principalId: erin.principalId,
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect(await redeem(view.token)).toMatchObject({ linked: false, reason: "forged" });
    for (const junk of ["", "abc", "a.b.c", `${"A".repeat(600)}.x`, "<@U0X>", `${body}.`]) {
      expect(await redeem(junk), junk.slice(0, 20)).toMatchObject({ linked: false, reason: "malformed" });
    }
    // Expired: minted eleven minutes ago.
    const old = await mintSlackLinkCode(
      key,
      { tenantId: tenant, principalId: erin.principalId },
      new Date(Date.now() - 11 * 60_000),
    );
    expect(await redeem(old.code)).toMatchObject({
      linked: false,
      reason: "expired",
      message: expect.stringMatching(/expired/),
    });
    // Another tenant's workspace: refused, and the code is not spent by the attempt.
    expect(await redeem(genuine, { tenantId: other.tenant, teamId: other.team })).toMatchObject({
      linked: false,
      reason: "other_tenant",
    });
    // The right tenant named with another team (a spoofed slash command): no link.
    expect(await redeem(genuine, { tenantId: tenant, teamId: other.team })).toMatchObject({
      linked: false,
      reason: "no_workspace",
    });
    expect(await redeem(genuine)).toMatchObject({ linked: true, principalId: erin.principalId });
  });

  it("refuses a code whose principal no longer decides over the tenant, and a Slack user linked to someone else", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    const frank = await createTestKey("approver", { maxLevel: 3, tenantId: tenant });
    const { code } = await consoleCode(frank, tenant);
    await testSql()`UPDATE api_keys SET revoked_at = now(), revoked_by = 'test' WHERE id = ${frank.keyId}`;
    expect(
      await redeemSlackLinkCode(ctx(), {
        tenantId: tenant,
        teamId: team,
        slackUserId: "U0FRANK",
        code: code ?? "",
      }),
    ).toMatchObject({ linked: false, reason: "no_deciding_key" });

    const grace = await createTestKey("approver", { maxLevel: 3, tenantId: tenant });
    await decider(tenant, "someone-else");
    expect((await postLink(tenant, { slack_user_id: "U0TAKEN", principal_id: "someone-else" })).status).toBe(
      201,
    );
    const graceCode = (await consoleCode(grace, tenant)).code ?? "";
    expect(
      await redeemSlackLinkCode(ctx(), {
        tenantId: tenant,
        teamId: team,
        slackUserId: "U0TAKEN",
        code: graceCode,
      }),
    ).toMatchObject({ linked: false, reason: "linked_to_other" });
    const links =
      await testSql()`SELECT principal_id FROM slack_user_links WHERE team_id = ${team} AND slack_user_id = 'U0TAKEN'`;
    expect(links).toEqual([{ principal_id: "someone-else" }]);
  });

  it("links once when one code is redeemed by several Slack accounts at once", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    const hana = await createTestKey("approver", { maxLevel: 3, tenantId: tenant });
    const { code } = await consoleCode(hana, tenant);
    const results = await Promise.all(
      ["U0R1", "U0R2", "U0R3", "U0R4"].map((slackUserId) =>
        redeemSlackLinkCode(ctx(), { tenantId: tenant, teamId: team, slackUserId, code: code ?? "" }),
      ),
    );
    expect(results.filter((r) => r.linked)).toHaveLength(1);
    expect(results.filter((r) => !r.linked).map((r) => !r.linked && r.reason)).toEqual([
      "used",
      "used",
      "used",
    ]);
    expect(await testSql()`SELECT 1 FROM slack_user_links WHERE team_id = ${team}`).toHaveLength(1);
  });
});

describe("slack links: the console page", () => {
  it("needs the session's CSRF token and the same origin; agents and other tenants are refused", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    const ivan = await createTestKey("approver", { maxLevel: 3, tenantId: tenant });
    const session = await signIn(ivan);
    const noCsrf = await call("/console/slack/code", form({ tenant_id: tenant }, session.cookie));
    expect(noCsrf.status).toBe(403);
    expect(await noCsrf.text()).not.toContain("/policy link ");
    const crossSite = await call(
      "/console/slack/code",
      form({ _csrf: session.csrf, tenant_id: tenant }, session.cookie, "https://evil.example"),
    );
    expect(crossSite.status).toBe(403);
    expect((await call("/console/slack/code", form({ tenant_id: tenant }))).status).toBe(401);

    // A key scoped to one tenant gets codes for it only: another tenant is refused, blank means its own.
    const other = fresh();
    await connect(other.tenant, other.team, other.token);
    const scoped = await call(
      "/console/slack/code",
      form({ _csrf: session.csrf, tenant_id: other.tenant }, session.cookie),
    );
    expect(scoped.status).toBe(403);
    const scopedPage = await scoped.text();
    expect(scopedPage).not.toContain("/policy link ");
    expect(scopedPage).not.toContain(other.team);
    const own = await call(
      "/console/slack/code",
      form({ _csrf: session.csrf, tenant_id: "" }, session.cookie),
    );
    expect(own.status).toBe(200);
    expect(await own.text()).toContain(`/policy link `);
    // An unscoped approver may ask for any tenant, and is told when it has no workspace.
    const judy = await createTestKey("approver", { maxLevel: 3 });
    const none = await consoleCode(judy, "no-such-tenant");
    expect(none.status).toBe(404);
    expect(none.code).toBeUndefined();
    const escaped = await consoleCode(judy, "<script>x</script>");
    expect(escaped.status).toBe(400);
    expect(escaped.page).not.toContain("<script>x");

    const asAgent = await call("/console/login", form({ api_key: agent.token }));
    if (asAgent.status === 303) {
      const cookie = (asAgent.headers.get("Set-Cookie") ?? "").split(";")[0] ?? "";
      expect((await call("/console/slack", { headers: { Cookie: cookie } })).status).toBe(403);
    } else {
      expect(asAgent.status).toBe(401);
    }
  });

  it("lets a principal remove its own link, never another's", async () => {
    const { tenant, team, token } = fresh();
    await connect(tenant, team, token);
    const kim = await createTestKey("approver", { maxLevel: 3, tenantId: tenant });
    const { code, session } = await consoleCode(kim, tenant);
    await redeemSlackLinkCode(ctx(), {
      tenantId: tenant,
      teamId: team,
      slackUserId: "U0KIM",
      code: code ?? "",
    });
    await decider(tenant, "lee");
    expect((await postLink(tenant, { slack_user_id: "U0LEE", principal_id: "lee" })).status).toBe(201);
    const foreign = await call(
      "/console/slack/unlink",
      form({ _csrf: session.csrf, tenant_id: tenant, slack_user_id: "U0LEE" }, session.cookie),
    );
    expect(foreign.status).toBe(404);
    expect(
      await testSql()`SELECT 1 FROM slack_user_links WHERE team_id = ${team} AND slack_user_id = 'U0LEE'`,
    ).toHaveLength(1);
    const own = await call(
      "/console/slack/unlink",
      form({ _csrf: session.csrf, tenant_id: tenant, slack_user_id: "U0KIM" }, session.cookie),
    );
    expect(own.status).toBe(200);
    expect(await own.text()).toContain("U0KIM unlinked");
    expect(
      await testSql()`SELECT 1 FROM slack_user_links WHERE team_id = ${team} AND slack_user_id = 'U0KIM'`,
    ).toHaveLength(0);
  });
});
