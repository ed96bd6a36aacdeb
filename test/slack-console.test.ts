// The console's Slack workspaces page (/console/admin/slack, issue 26) through its HTTP routes: an admin
// connects, replaces (keeping the sealed secrets) and disconnects, with the API's audit rows and 409s;
// approver and agent sessions are refused, as are posts without the session's CSRF token; a
// tenant-scoped admin sees and touches only its tenant; typed values come back escaped, routes errors
// name their line, and no page, notice or log line ever holds a submitted token or secret. A new bot token
// is checked with Slack (auth.test, at the fake) before anything is stored, and what Slack said is shown
// escaped.
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { FAKE_SLACK_HOSTILE_TEAM_NAME } from "../scripts/lib/fake-slack.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext } from "../src/services/context.ts";
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
