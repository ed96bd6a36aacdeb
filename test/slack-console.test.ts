// The console's Slack workspaces page (/console/admin/slack, issue 26) through its HTTP routes: an admin
// connects, replaces (keeping the sealed secrets) and disconnects, with the API's audit rows and 409s;
// approver and agent sessions are refused, as are posts without the session's CSRF token; a
// tenant-scoped admin sees and touches only its tenant; typed values come back escaped, routes errors
// name their line, and no page, notice or log line ever holds a submitted token or secret. A new bot token
// is checked with Slack (auth.test, at the fake) before anything is stored, and what Slack said is shown
// escaped.
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { FAKE_SLACK_HOSTILE_TEAM_NAME } from "../scripts/lib/fake-slack.ts";
import { createDb } from "../src/db/client.ts";
import { slackUserLinks } from "../src/db/schema.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext } from "../src/services/context.ts";
import { slackPrincipal } from "../src/services/slack/identity.ts";
import { loadSlackWorkspace } from "../src/services/slack/workspace.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const PAGE = "/console/admin/slack";
const WORKSPACES = "/api/v1/admin/slack/workspaces";
const SIGNING = "0123456789abcdef0123456789abcdef";
const RECEIVER = inject("webhookReceiverUrl");

let admin: TestKey;
let acmeAdmin: TestKey;
let approver: TestKey;
let agent: TestKey;
let unique = 0;

beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "slack-console-ops" });
  acmeAdmin = await createTestKey("admin", {
    principalId: "acme-console-ops",
    tenantId: "acme",
    maxLevel: 5,
  });
  approver = await createTestKey("approver", { maxLevel: 4 });
  agent = await createTestKey("agent");
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Ids no other test uses: a tenant, a team, a bot token of that team (the fake reads the team from it). */
function fresh() {
  const n = `${Date.now().toString(36)}c${unique++}`.toUpperCase();
  return { tenant: `t-${n.toLowerCase()}`, team: `T${n}`, token: tokenOf(`T${n}`) };
}

/** A bot token of `team` at the fake Slack (scripts/lib/fake-slack.ts): `xoxb-<team>-…`. */
function tokenOf(team: string, scenario = "ok"): string {
  return `xoxb-${team}-${scenario}-${unique++}-consolebot`;
}

/** The Web API methods the fake Slack saw called with `token`, oldest first. */
async function slackCalls(token: string): Promise<string[]> {
  const res = await fetch(`${RECEIVER}/slack/_calls?token=${encodeURIComponent(token)}`);
  return ((await res.json()) as { method: string }[]).map((c) => c.method);
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

async function post(
  session: { cookie: string; csrf: string },
  fields: Record<string, string>,
  path = PAGE,
  env: Record<string, string> = {},
) {
  const res = await call(path, form({ _csrf: session.csrf, ...fields }, session.cookie), env);
  return { status: res.status, page: await res.text() };
}

async function getPage(session: { cookie: string }, query = "") {
  const res = await call(`${PAGE}${query}`, { headers: { Cookie: session.cookie } });
  return { status: res.status, page: await res.text() };
}

describe("the console's Slack workspaces page", () => {
  it("is for admins only: an approver session gets 403, an agent key gets no session at all", async () => {
    const { tenant, team, token } = fresh();
    const session = await signIn(approver);
    expect((await getPage(session)).status).toBe(403);
    const connect = await post(session, {
      tenant_id: tenant,
      team_id: team,
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(connect.status).toBe(403);
    expect(connect.page).not.toContain(token);
    expect((await post(session, { tenant_id: tenant }, `${PAGE}/disconnect`)).status).toBe(403);
    const nav = await (await call("/console", { headers: { Cookie: session.cookie } })).text();
    expect(nav).not.toContain(`href="${PAGE}"`);

    // An agent key signs in to nothing, and the console takes no API key in place of a session.
    expect((await call("/console/login", form({ api_key: agent.token }))).status).toBe(401);
    const asAgent = await call(PAGE, {
      ...form({
        tenant_id: tenant,
        team_id: team,
        bot_token: token,
        signing_secret: SIGNING,
        default_channel: "C0D",
      }),
      headers: { ...agent.headers, "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(asAgent.status).toBe(401);
    expect((await call(PAGE, { headers: agent.headers, redirect: "manual" })).status).toBe(303);
    expect(await loadSlackWorkspace(ctx(), tenant)).toBeUndefined();
  });

  it("connects, replaces keeping the secrets, and disconnects, audited like the API", async () => {
    const { tenant, team, token } = fresh();
    const session = await signIn(admin);
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));

    const nav = await getPage(session);
    expect(nav.status).toBe(200);
    expect(nav.page).toContain(`href="${PAGE}"`);
    // The secret inputs are password fields and never filled in.
    expect(nav.page).toMatch(
      /<input id="slack_ws_token" name="bot_token" type="password" autocomplete="off" \/>/,
    );
    expect(nav.page).toMatch(
      /<input id="slack_ws_secret" name="signing_secret" type="password" autocomplete="off" \/>/,
    );

    const connected = await post(session, {
      tenant_id: ` ${tenant.toUpperCase()} `,
      team_id: team.toLowerCase(),
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: "c0default",
      max_decide_level: "3",
      routes: "payments.*|4|C0PAY\n\n|5|c0exec",
    });
    expect(connected.status, connected.page).toBe(200);
    expect(connected.page).toContain(
      `Slack workspace ${team} connected to tenant ${tenant}. Slack confirmed the bot token: team Fake team ${team}, bot user U${team.slice(1)}BOT.`,
    );
    expect(connected.page).toContain("payments.*|4|C0PAY\n|5|C0EXEC");
    expect(connected.page).toContain("token set, secret set");

    const api = await call(`${WORKSPACES}/${tenant}`, { headers: admin.headers });
    expect(await api.json()).toMatchObject({
      tenant_id: tenant,
      team_id: team,
      default_channel: "C0DEFAULT",
      max_decide_level: 3,
      routes: [
        { skill_pattern: "payments.*", level: 4, channel: "C0PAY" },
        { level: 5, channel: "C0EXEC" },
      ],
    });

    // Edit: the form filled in with the settings, never the secrets.
    const edit = await getPage(session, `?edit=${tenant}`);
    expect(edit.status).toBe(200);
    expect(edit.page).toContain(`name="team_id" value="${team}"`);
    expect(edit.page).toContain(`name="default_channel" value="C0DEFAULT"`);

    // Replace with the secrets blank: the stored ones are kept.
    const replaced = await post(session, {
      tenant_id: tenant,
      team_id: team,
      bot_token: "",
      signing_secret: "",
      default_channel: "C0OTHER",
      max_decide_level: "",
      routes: "",
    });
    expect(replaced.status, replaced.page).toBe(200);
    expect(replaced.page).toContain(`Slack workspace ${team} replaced for tenant ${tenant}.`);
    expect(replaced.page).not.toContain("Slack confirmed");
    // Only the connect's new token was checked with Slack; the replace kept it and asked nothing.
    expect(await slackCalls(token)).toEqual(["auth.test"]);
    expect(await loadSlackWorkspace(ctx(), tenant)).toMatchObject({
      botToken: token,
      signingSecret: SIGNING,
      defaultChannel: "C0OTHER",
      routes: [],
      maxDecideLevel: 4,
    });

    const gone = await post(session, { tenant_id: tenant }, `${PAGE}/disconnect`);
    expect(gone.status).toBe(200);
    expect(gone.page).toContain(
      `Slack workspace ${team} disconnected from tenant ${tenant} (0 links removed).`,
    );
    expect(await loadSlackWorkspace(ctx(), tenant)).toBeUndefined();
    const again = await post(session, { tenant_id: tenant }, `${PAGE}/disconnect`);
    expect(again.status).toBe(404);
    expect(again.page).toContain(`Tenant ${tenant} has no Slack workspace connected`);

    const events = (await testSql()`
      SELECT action, actor FROM audit_events
       WHERE target_type = 'slack_workspace' AND target_id = ${tenant} ORDER BY id`) as {
      action: string;
      actor: string;
    }[];
    expect(events.map((e) => e.action)).toEqual([
      "slack.workspace.connect",
      "slack.workspace.update",
      "slack.workspace.disconnect",
    ]);
    for (const page of [nav.page, connected.page, edit.page, replaced.page, gone.page]) {
      expect(page).not.toContain(token);
      expect(page).not.toContain(SIGNING);
    }
    const logged = lines.join("\n");
    expect(logged).not.toContain(token);
    expect(logged).not.toContain(SIGNING);
  });

  it("answers the service's refusals on the page: missing secrets, a taken team (409), bad fields by name", async () => {
    const { tenant, team, token } = fresh();
    const other = fresh();
    const session = await signIn(admin);

    const noSecret = await post(session, {
      tenant_id: tenant,
      team_id: team,
      bot_token: token,
      default_channel: "C0DEFAULT",
    });
    expect(noSecret.status).toBe(400);
    expect(noSecret.page).toContain("signing_secret: required to connect a workspace");
    expect(noSecret.page).toContain(`name="team_id" value="${team}"`);
    expect(noSecret.page).not.toContain(token);

    const ok = await post(session, {
      tenant_id: tenant,
      team_id: team,
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(ok.status, ok.page).toBe(200);
    const taken = await post(session, {
      tenant_id: other.tenant,
      team_id: team,
      bot_token: tokenOf(team),
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(taken.status).toBe(409);
    expect(taken.page).toContain(`Slack team ${team} is connected to another tenant`);
    expect(await loadSlackWorkspace(ctx(), other.tenant)).toBeUndefined();

    // A malformed token or secret is refused by its rule, and never repeated back.
    const badToken = "xoxp-not-a-bot-token-sekrit";
    const badSecret = "zz-not-hex-sekrit-zz";
    const badFields: Record<string, string>[] = [{ bot_token: badToken }, { signing_secret: badSecret }];
    for (const fields of badFields) {
      const refused = await post(session, {
        tenant_id: tenant,
        team_id: team,
        default_channel: "C0DEFAULT",
        ...fields,
      });
      expect(refused.status).toBe(400);
      expect(refused.page).toMatch(/(bot_token|signing_secret): /);
      expect(refused.page).not.toContain("sekrit");
    }

    const cases: Array<[Record<string, string>, string]> = [
      [{ routes: "payments.*|4|C0PAY\nnot a route" }, "routes line 2: write skill_pattern|level|channel"],
      [{ routes: "\n|x|C0PAY" }, "routes line 2: level: a whole number from 1 to 5"],
      [{ routes: "a.*|9|C0PAY" }, "routes line 1: level:"],
      [{ routes: "a.*|2|C0PAY\n\nb|3|#general" }, "routes line 3: channel:"],
      [{ routes: "||C0PAY" }, "routes line 1: skill_pattern: a route needs skill_pattern, level or both"],
      [{ max_decide_level: "six" }, "max_decide_level: a whole number from 1 to 5"],
      [{ max_decide_level: "0" }, "max_decide_level:"],
      [{ team_id: "not-a-team" }, "team_id:"],
      [{ tenant_id: "" }, "tenant_id:"],
    ];
    for (const [fields, text] of cases) {
      const refused = await post(session, {
        tenant_id: tenant,
        team_id: team,
        default_channel: "C0DEFAULT",
        ...fields,
      });
      expect(refused.status, JSON.stringify(fields)).toBe(400);
      expect(refused.page, JSON.stringify(fields)).toContain(text);
    }
    // Nothing refused changed the workspace.
    expect(await loadSlackWorkspace(ctx(), tenant)).toMatchObject({
      botToken: token,
      defaultChannel: "C0DEFAULT",
    });
  });

  it("checks a new bot token with Slack: refused or another team's is said on the form, Slack down is a 503 there", async () => {
    const { tenant, team } = fresh();
    const session = await signIn(admin);
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const fields = (token: string) => ({
      tenant_id: tenant,
      team_id: team,
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
      routes: "payments.*|4|C0PAY",
    });

    const invalid = tokenOf(team, "invalid");
    const refused = await post(session, fields(invalid));
    expect(refused.status).toBe(400);
    expect(refused.page).toContain("bot_token: Slack refused the token (invalid_auth)");
    // What was typed comes back (never the token), so the admin fixes only the token.
    expect(refused.page).toContain(`name="team_id" value="${team}"`);
    expect(refused.page).toContain("payments.*|4|C0PAY");

    const { team: otherTeam, token: otherToken } = fresh();
    const wrongTeam = await post(session, fields(otherToken));
    expect(wrongTeam.status).toBe(400);
    expect(wrongTeam.page).toContain(
      `team_id: the bot token belongs to Slack team ${otherTeam}, not ${team}`,
    );

    const good = tokenOf(team);
    const down = await post(session, fields(good), PAGE, {
      SLACK_API_BASE_URL: "http://127.0.0.1:1/slack/api/",
    });
    expect(down.status).toBe(503);
    expect(down.page).toContain("Slack could not be reached to check the bot token");
    expect(down.page).toContain(`name="team_id" value="${team}"`);
    const failing = await post(session, fields(tokenOf(team, "fail500-3")));
    expect(failing.status).toBe(503);

    expect(await loadSlackWorkspace(ctx(), tenant)).toBeUndefined();
    expect(
      await testSql()`SELECT 1 FROM audit_events WHERE target_type = 'slack_workspace' AND target_id = ${tenant}`,
    ).toHaveLength(0);
    // The form's label says "xoxb-…"; no submitted token appears anywhere.
    const sent = [invalid, otherToken, good];
    for (const page of [refused.page, wrongTeam.page, down.page, failing.page]) {
      for (const token of sent) expect(page).not.toContain(token);
      expect(page).not.toMatch(/xoxb-T/);
    }
    expect(lines.join("\n")).not.toMatch(/xoxb-/);

    // Slack back: the same form connects.
    const ok = await post(session, fields(good));
    expect(ok.status, ok.page).toBe(200);
    expect(await loadSlackWorkspace(ctx(), tenant)).toMatchObject({ botToken: good, teamId: team });
  });

  it("shows what Slack calls the workspace as text: a hostile team name is escaped, its mentions inert", async () => {
    const { tenant, team } = fresh();
    const session = await signIn(admin);
    const connected = await post(session, {
      tenant_id: tenant,
      team_id: team,
      bot_token: tokenOf(team, "hostilename"),
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    });
    expect(connected.status, connected.page).toBe(200);
    expect(connected.page).not.toContain(FAKE_SLACK_HOSTILE_TEAM_NAME);
    expect(connected.page).not.toContain("<script>alert(1)");
    expect(connected.page).toContain(
      "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &lt;@U0BOSS&gt; &amp;",
    );
  });

  it("escapes hostile values typed into the form when it is shown again", async () => {
    const session = await signIn(admin);
    const { team } = fresh();
    const hostile = await post(session, {
      tenant_id: "<script>alert(1)</script>",
      team_id: team,
      bot_token: "",
      default_channel: '"><script>alert(2)</script>',
      routes: "<img src=x onerror=alert(3)>|1|C0PAY",
    });
    expect(hostile.status).toBe(400);
    expect(hostile.page).not.toContain("<script>alert");
    expect(hostile.page).not.toContain("<img src=x");
    expect(hostile.page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    const channel = await post(session, {
      tenant_id: fresh().tenant,
      team_id: team,
      default_channel: '"><script>alert(2)</script>',
    });
    expect(channel.status).toBe(400);
    expect(channel.page).toContain("default_channel:");
    expect(channel.page).not.toContain("<script>alert");
    expect(channel.page).toContain("&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;");
    const edit = await getPage(session, `?edit=${encodeURIComponent("<script>alert(4)</script>")}`);
    expect(edit.status).toBe(400);
    expect(edit.page).toContain("tenant_id:");
    expect(edit.page).not.toContain("<script>alert");
  });

  it("refuses posts without the session's CSRF token or from another site", async () => {
    const { tenant, team, token } = fresh();
    const session = await signIn(admin);
    const fields = {
      tenant_id: tenant,
      team_id: team,
      bot_token: token,
      signing_secret: SIGNING,
      default_channel: "C0DEFAULT",
    };
    for (const csrf of [undefined, "forged", (await signIn(acmeAdmin)).csrf]) {
      const res = await call(
        PAGE,
        form(csrf === undefined ? fields : { ...fields, _csrf: csrf }, session.cookie),
      );
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain(token);
    }
    const crossSite = await call(
      PAGE,
      form({ ...fields, _csrf: session.csrf }, session.cookie, "https://evil.example"),
    );
    expect(crossSite.status).toBe(403);
    expect(await loadSlackWorkspace(ctx(), tenant)).toBeUndefined();

    expect((await post(session, fields)).status).toBe(200);
    const noCsrf = await call(`${PAGE}/disconnect`, form({ tenant_id: tenant }, session.cookie));
    expect(noCsrf.status).toBe(403);
    expect(await loadSlackWorkspace(ctx(), tenant)).toMatchObject({ teamId: team });
  });

  it("confines a tenant-scoped admin to its tenant: it sees, edits and disconnects no other", async () => {
    const theirs = fresh();
    const global = await signIn(admin);
    expect(
      (
        await post(global, {
          tenant_id: theirs.tenant,
          team_id: theirs.team,
          bot_token: theirs.token,
          signing_secret: SIGNING,
          default_channel: "C0DEFAULT",
        })
      ).status,
    ).toBe(200);

    const scoped = await signIn(acmeAdmin);
    const listed = await getPage(scoped);
    expect(listed.status).toBe(200);
    expect(listed.page).not.toContain(theirs.tenant);
    expect(listed.page).toMatch(/<input id="slack_ws_tenant" name="tenant_id" value="acme"[^>]*readonly/);

    const edit = await getPage(scoped, `?edit=${theirs.tenant}`);
    expect(edit.status).toBe(403);
    expect(edit.page).toContain("may only manage the Slack workspace of tenant acme");

    const replace = await post(scoped, {
      tenant_id: theirs.tenant,
      team_id: theirs.team,
      bot_token: "xoxb-9999-9999-hijackedbot",
      default_channel: "C0HIJACK",
    });
    expect(replace.status).toBe(403);
    const disconnect = await post(scoped, { tenant_id: theirs.tenant }, `${PAGE}/disconnect`);
    expect(disconnect.status).toBe(403);
    expect(await loadSlackWorkspace(ctx(), theirs.tenant)).toMatchObject({
      botToken: theirs.token,
      defaultChannel: "C0DEFAULT",
    });
  });
});

let ops: { cookie: string; csrf: string } | undefined;

/** The global admin's one session for these tests (sign-ins are rate limited per key). */
async function opsSession() {
  ops ??= await signIn(admin);
  return ops;
}

/** A workspace connected through the page by the global admin: the tenant, team and token. */
async function connected() {
  const ids = fresh();
  const made = await post(await opsSession(), {
    tenant_id: ids.tenant,
    team_id: ids.team,
    bot_token: ids.token,
    signing_secret: SIGNING,
    default_channel: "C0DEFAULT",
  });
  expect(made.status, made.page).toBe(200);
  return ids;
}

/** The workspace's links as the REST API lists them. */
async function apiLinks(tenant: string) {
  const res = await call(`${WORKSPACES}/${tenant}/links`, { headers: admin.headers });
  expect(res.status).toBe(200);
  return (await res.json()) as { slack_user_id: string; principal_id: string; method: string }[];
}

async function linkRows(team: string) {
  return (await testSql()`SELECT slack_user_id, principal_id FROM slack_user_links WHERE team_id = ${team}`) as {
    slack_user_id: string;
    principal_id: string;
  }[];
}

describe("the console's Slack workspaces page: user links", () => {
  it("links and unlinks through the page, as the REST API and slackPrincipal then see it, audited", async () => {
    const { tenant, team } = await connected();
    const dana = await createTestKey("approver", {
      principalId: `dana-${tenant}`,
      maxLevel: 3,
      tenantId: tenant,
    });
    const session = await opsSession();
    const slackUser = `U0DANA${team.slice(1)}`;

    const shown = await getPage(session, `?links=${tenant}`);
    expect(shown.status).toBe(200);
    expect(shown.page).toContain(`Slack user links of tenant ${tenant} (workspace ${team})`);
    expect(shown.page).toContain("No Slack users linked.");
    expect(shown.page).toContain(`href="/console/admin/slack?links=${tenant}#slack-links"`);

    // Ids are folded as the API folds them.
    const linked = await post(
      session,
      {
        tenant_id: tenant,
        slack_user_id: slackUser.toLowerCase(),
        principal_id: ` ${dana.principalId.toUpperCase()} `,
      },
      `${PAGE}/links`,
    );
    expect(linked.status, linked.page).toBe(200);
    expect(linked.page).toContain(
      `Slack user ${slackUser} linked to principal ${dana.principalId} in tenant ${tenant}.`,
    );
    expect(linked.page).toContain(`<td>${slackUser}</td><td>${dana.principalId}</td><td>admin</td>`);
    expect(linked.page).toContain("by slack-console-ops");
    expect(linked.page).toContain(
      `aria-label="Unlink Slack user ${slackUser} from principal ${dana.principalId}"`,
    );
    expect(await apiLinks(tenant)).toMatchObject([
      { slack_user_id: slackUser, principal_id: dana.principalId, method: "admin" },
    ]);
    const who = await slackPrincipal(ctx(), { tenantId: tenant, teamId: team, slackUserId: slackUser });
    expect(who).toMatchObject({ principal: { principalId: dana.principalId, keyId: dana.keyId } });

    // The same link again is answered as it is; another principal is the API's 409.
    const again = await post(
      session,
      { tenant_id: tenant, slack_user_id: slackUser, principal_id: dana.principalId },
      `${PAGE}/links`,
    );
    expect(again.status).toBe(200);
    expect(again.page).toContain("is already linked to principal");
    const eve = await createTestKey("approver", { maxLevel: 3, tenantId: tenant });
    const stolen = await post(
      session,
      { tenant_id: tenant, slack_user_id: slackUser, principal_id: eve.principalId },
      `${PAGE}/links`,
    );
    expect(stolen.status).toBe(409);
    expect(stolen.page).toContain(`is linked to another principal (${dana.principalId}): unlink it first`);
    expect(stolen.page).toContain(`name="principal_id" value="${eve.principalId}"`);

    // A link made through the API shows on the page too.
    const viaApi = await call(`${WORKSPACES}/${tenant}/links`, {
      method: "POST",
      headers: { ...admin.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ slack_user_id: "W0EVE", principal_id: eve.principalId }),
    });
    expect(viaApi.status).toBe(201);
    expect((await getPage(session, `?links=${tenant}`)).page).toContain(
      `<td>W0EVE</td><td>${eve.principalId}</td>`,
    );

    const unlinked = await post(
      session,
      { tenant_id: tenant, slack_user_id: slackUser.toLowerCase() },
      `${PAGE}/unlink`,
    );
    expect(unlinked.status, unlinked.page).toBe(200);
    expect(unlinked.page).toContain(
      `Slack user ${slackUser} unlinked from principal ${dana.principalId} in tenant ${tenant}.`,
    );
    expect((await apiLinks(tenant)).map((l) => l.slack_user_id)).toEqual(["W0EVE"]);
    expect(await slackPrincipal(ctx(), { tenantId: tenant, teamId: team, slackUserId: slackUser })).toEqual({
      refused: "not_linked",
    });
    const twice = await post(session, { tenant_id: tenant, slack_user_id: slackUser }, `${PAGE}/unlink`);
    expect(twice.status).toBe(404);
    expect(twice.page).toContain(`Slack user ${slackUser} is not linked in this workspace`);

    const events = (await testSql()`
      SELECT action, actor, after, before FROM audit_events
       WHERE target_type = 'slack_user_link' AND target_id = ${`${team}/${slackUser}`} ORDER BY id`) as {
      action: string;
      actor: string;
    }[];
    expect(events).toMatchObject([
      {
        action: "slack.link.create",
        actor: "slack-console-ops",
        after: { tenant_id: tenant, method: "admin" },
      },
      { action: "slack.link.delete", actor: "slack-console-ops", before: { principal_id: dana.principalId } },
    ]);
  });

  it("shows the links a page at a time, newest first, with Newer and Older", async () => {
    const { tenant, team } = await connected();
    const db = createDb(testEnv());
    await db.insert(slackUserLinks).values(
      Array.from({ length: 52 }, (_, i) => ({
        teamId: team,
        slackUserId: `U0PAGE${String(i).padStart(3, "0")}`,
        principalId: "someone",
        method: "admin",
        linkedBy: "test",
        createdAt: new Date(Date.UTC(2026, 0, 1) + i * 1000),
      })),
    );
    const session = await opsSession();
    const first = await getPage(session, `?links=${tenant}`);
    expect(first.page).toContain("U0PAGE051");
    expect(first.page).toContain("U0PAGE002");
    expect(first.page).not.toContain("U0PAGE001");
    expect(first.page).toContain("Links 1–50, newest first, 50 a page.");
    expect(first.page).toContain(
      `href="/console/admin/slack?links=${tenant}&amp;links_offset=50#slack-links">Older`,
    );
    expect(first.page).not.toContain(">Newer<");
    const second = await getPage(session, `?links=${tenant}&links_offset=50`);
    expect(second.status).toBe(200);
    expect(second.page).toContain("U0PAGE001");
    expect(second.page).toContain("U0PAGE000");
    expect(second.page).not.toContain("U0PAGE002");
    expect(second.page).toContain("Links 51–52");
    expect(second.page).toContain(`href="/console/admin/slack?links=${tenant}#slack-links">Newer`);
    expect(second.page).not.toContain(">Older<");
    for (const offset of ["-1", "x", "1000001", "99999999"]) {
      const bad = await getPage(session, `?links=${tenant}&links_offset=${offset}`);
      expect(bad.status, offset).toBe(400);
      expect(bad.page).toContain("links_offset: a whole number from 0 to 1000000");
    }
  });

  it("is for admins only: approver sessions get 403, agent keys no session", async () => {
    const { tenant, team } = await connected();
    const keeper = await createTestKey("approver", { maxLevel: 2, tenantId: tenant });
    const kept = await post(
      await opsSession(),
      { tenant_id: tenant, slack_user_id: "U0KEEP", principal_id: keeper.principalId },
      `${PAGE}/links`,
    );
    expect(kept.status, kept.page).toBe(200);
    const before = await linkRows(team);
    const session = await signIn(approver);
    expect((await getPage(session, `?links=${tenant}`)).status).toBe(403);
    const link = await post(
      session,
      { tenant_id: tenant, slack_user_id: "U0MINE", principal_id: approver.principalId },
      `${PAGE}/links`,
    );
    expect(link.status).toBe(403);
    expect(
      (await post(session, { tenant_id: tenant, slack_user_id: "U0KEEP" }, `${PAGE}/unlink`)).status,
    ).toBe(403);
    for (const path of [`${PAGE}/links`, `${PAGE}/unlink`]) {
      const asAgent = await call(path, {
        ...form({ tenant_id: tenant, slack_user_id: "U0AGENT", principal_id: agent.principalId }),
        headers: { ...agent.headers, "Content-Type": "application/x-www-form-urlencoded" },
      });
      expect(asAgent.status).toBe(401);
    }
    expect(await linkRows(team)).toEqual(before);
  });

  it("refuses link and unlink posts without the session's CSRF token or from another site", async () => {
    const { tenant, team } = await connected();
    const keeper = await createTestKey("approver", { maxLevel: 2, tenantId: tenant });
    const session = await opsSession();
    expect(
      (
        await post(
          session,
          { tenant_id: tenant, slack_user_id: "U0KEEP", principal_id: keeper.principalId },
          `${PAGE}/links`,
        )
      ).status,
    ).toBe(200);
    const linkFields = { tenant_id: tenant, slack_user_id: "U0EVIL", principal_id: keeper.principalId };
    const unlinkFields = { tenant_id: tenant, slack_user_id: "U0KEEP" };
    for (const csrf of [undefined, "", "forged", (await signIn(acmeAdmin)).csrf]) {
      for (const [path, fields] of [
        [`${PAGE}/links`, linkFields],
        [`${PAGE}/unlink`, unlinkFields],
      ] as const) {
        const res = await call(
          path,
          form(csrf === undefined ? fields : { ...fields, _csrf: csrf }, session.cookie),
        );
        expect(res.status, `${path} ${csrf}`).toBe(403);
      }
    }
    const crossSite = await call(
      `${PAGE}/unlink`,
      form({ ...unlinkFields, _csrf: session.csrf }, session.cookie, "https://evil.example"),
    );
    expect(crossSite.status).toBe(403);
    expect(await linkRows(team)).toEqual([{ slack_user_id: "U0KEEP", principal_id: keeper.principalId }]);
  });

  it("confines a tenant-scoped admin to its tenant's links, also when it forges the form's tenant", async () => {
    const mine = await connected();
    const theirs = await connected();
    const theirApprover = await createTestKey("approver", { maxLevel: 2, tenantId: theirs.tenant });
    const global = await opsSession();
    expect(
      (
        await post(
          global,
          { tenant_id: theirs.tenant, slack_user_id: "U0THEIRS", principal_id: theirApprover.principalId },
          `${PAGE}/links`,
        )
      ).status,
    ).toBe(200);
    const scopedKey = await createTestKey("admin", { tenantId: mine.tenant, maxLevel: 5 });
    const scoped = await signIn(scopedKey);

    // Its own workspace's links are shown by default, with the tenant in the form's hidden field.
    const own = await getPage(scoped);
    expect(own.status).toBe(200);
    expect(own.page).toContain(`Slack user links of tenant ${mine.tenant}`);
    expect(own.page).toContain(`<input type="hidden" name="tenant_id" value="${mine.tenant}" />`);
    expect(own.page).not.toContain(theirs.tenant);

    const peek = await getPage(scoped, `?links=${theirs.tenant}`);
    expect(peek.status).toBe(403);
    expect(peek.page).toContain(`may only manage the Slack workspace of tenant ${mine.tenant}`);
    expect(peek.page).not.toContain("U0THEIRS");

    const mallory = await createTestKey("approver", { maxLevel: 2, tenantId: theirs.tenant });
    for (const forged of [theirs.tenant, ` ${theirs.tenant.toUpperCase()} `]) {
      const link = await post(
        scoped,
        { tenant_id: forged, slack_user_id: "U0MALLORY", principal_id: mallory.principalId },
        `${PAGE}/links`,
      );
      expect(link.status, forged).toBe(403);
      expect(link.page).not.toContain("U0THEIRS");
      const unlink = await post(scoped, { tenant_id: forged, slack_user_id: "U0THEIRS" }, `${PAGE}/unlink`);
      expect(unlink.status, forged).toBe(403);
    }
    expect(await linkRows(theirs.team)).toEqual([
      { slack_user_id: "U0THEIRS", principal_id: theirApprover.principalId },
    ]);
    expect(await linkRows(mine.team)).toEqual([]);
  });

  it("refuses hostile values by field, escaped when the form is shown again", async () => {
    const { tenant, team } = await connected();
    const session = await opsSession();
    const cases: Array<[Record<string, string>, string]> = [
      [{ slack_user_id: "<script>alert(1)</script>", principal_id: "p" }, "slack_user_id:"],
      [{ slack_user_id: "<@U0X>", principal_id: "p" }, "slack_user_id:"],
      [{ slack_user_id: "C0CHANNEL", principal_id: "p" }, "slack_user_id:"],
      [{ slack_user_id: "U0X", principal_id: '"><script>alert(2)</script>' }, "principal_id:"],
      [{ slack_user_id: "U0X", principal_id: "" }, "principal_id:"],
    ];
    for (const [fields, text] of cases) {
      const refused = await post(session, { tenant_id: tenant, ...fields }, `${PAGE}/links`);
      expect(refused.status, JSON.stringify(fields)).toBe(400);
      expect(refused.page, JSON.stringify(fields)).toContain(text);
      expect(refused.page).not.toContain("<script>alert");
    }
    const shown = await post(
      session,
      {
        tenant_id: tenant,
        slack_user_id: "<script>alert(1)</script>",
        principal_id: '"><script>alert(2)</script>',
      },
      `${PAGE}/links`,
    );
    expect(shown.page).toContain('name="slack_user_id" value="&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(shown.page).toContain(
      'name="principal_id" value="&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"',
    );
    const unlink = await post(
      session,
      { tenant_id: tenant, slack_user_id: "<script>alert(3)</script>" },
      `${PAGE}/unlink`,
    );
    expect(unlink.status).toBe(400);
    expect(unlink.page).toContain("slack_user_id:");
    expect(unlink.page).not.toContain("<script>alert");
    for (const hostileTenant of ["<script>alert(4)</script>", ""]) {
      const link = await post(
        session,
        { tenant_id: hostileTenant, slack_user_id: "U0X", principal_id: "p" },
        `${PAGE}/links`,
      );
      expect(link.status).toBe(400);
      expect(link.page).toContain("tenant_id:");
      expect(link.page).not.toContain("<script>alert");
    }
    const peek = await getPage(session, `?links=${encodeURIComponent("<script>alert(5)</script>")}`);
    expect(peek.status).toBe(400);
    expect(peek.page).toContain("tenant_id:");
    expect(peek.page).not.toContain("<script>alert");
    expect(await linkRows(team)).toEqual([]);
  });

  it("refuses the principals the API refuses, with the API's status and message", async () => {
    const { tenant, team } = await connected();
    const other = await connected();
    const lowAdmin = await createTestKey("admin", { maxLevel: 2 });
    const owner = await createTestKey("approver", { maxLevel: 5, tenantId: tenant });
    const elsewhere = await createTestKey("approver", { maxLevel: 2, tenantId: other.tenant });
    const agentOnly = await createTestKey("agent", { tenantId: tenant });
    const low = await signIn(lowAdmin);
    const cases: Array<[TestKey, { cookie: string; csrf: string }, string]> = [
      [lowAdmin, low, owner.principalId],
      [admin, await opsSession(), `nobody-${tenant}`],
      [admin, await opsSession(), elsewhere.principalId],
      [admin, await opsSession(), agentOnly.principalId],
    ];
    for (const [key, session, principalId] of cases) {
      const api = await call(`${WORKSPACES}/${tenant}/links`, {
        method: "POST",
        headers: { ...key.headers, "Content-Type": "application/json" },
        body: JSON.stringify({ slack_user_id: "U0API", principal_id: principalId }),
      });
      const apiError = ((await api.json()) as { error: { message: string } }).error;
      expect([400, 403], principalId).toContain(api.status);
      const page = await post(
        session,
        { tenant_id: tenant, slack_user_id: "U0PAGE", principal_id: principalId },
        `${PAGE}/links`,
      );
      expect(page.status, principalId).toBe(api.status);
      expect(page.page).toContain(
        api.status === 400
          ? `principal_id: ${principalId} holds no live approver or admin key`
          : apiError.message,
      );
    }
    expect(await linkRows(team)).toEqual([]);
  });
});
