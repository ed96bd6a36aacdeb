// Slack interactions end to end (issue 26): requests signed with a test signing secret, posted to the
// worker's real fetch handler, the workspace row sealed with the deployment's key, and the fake Slack
// Web API of the test receiver recording what the worker sent back (ephemeral replies on response_url,
// views.open). The attacks: forged, altered, stale, future and replayed requests; another team; users
// who are not linked, under the level, or the requester; another tenant's request id; secrets in logs.
import { eq } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { createDb } from "../src/db/client.ts";
import { slackUserLinks, slackWorkspaces } from "../src/db/schema.ts";
import { mintSlackLinkCode, slackLinkCodeKey } from "../src/domain/slack-link-code.ts";
import { slackSignature, slackSignatureRefusal } from "../src/domain/slack-signature.ts";
import { slackQuotedText } from "../src/domain/slack-text.ts";
import type { Bindings } from "../src/env.ts";
import { encryptSecret, importEncryptionKey } from "../src/lib/secrets.ts";
import { responseUrlAllowed } from "../src/services/slack/interactions.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";
import { fileRequest } from "./helpers/requests.ts";
import { TEST_WEBHOOK_ENCRYPTION_KEY } from "./setup/test-secrets.ts";

const RECEIVER = inject("webhookReceiverUrl");
const RUN = crypto.randomUUID().slice(0, 8);
const TENANT = `slk-${RUN}`;
const TEAM = `T${RUN.toUpperCase()}`;
const SIGNING_SECRET = `test-signing-secret-${crypto.randomUUID()}`;
const BOT_TOKEN = `xoxb-test-${RUN}-${crypto.randomUUID()}`;
const ENV = { SLACK_API_BASE_URL: `${RECEIVER}/slack/api/` };
const INTERACTIONS = `/integrations/slack/${TENANT}/interactions`;
const COMMANDS = `/integrations/slack/${TENANT}/commands`;

let admin: TestKey;
let agent: TestKey;
/** Level 4 approvers of the tenant, linked as U…ALICE and U…BOB: together a quorum of two. */
let alice: TestKey;
let bob: TestKey;
/** Level 3: under the level-4 requests here. */
let carol: TestKey;
/** An approver of every tenant (level 5), linked in this workspace. */
let dave: TestKey;

const user = (name: string) => `U${name.toUpperCase()}${RUN.toUpperCase()}`;

async function link(slackUser: string, principalId: string) {
  await createDb(testEnv())
    .insert(slackUserLinks)
    .values({ teamId: TEAM, slackUserId: slackUser, principalId, method: "admin", linkedBy: "test" });
}

beforeAll(async () => {
  const key = await importEncryptionKey(TEST_WEBHOOK_ENCRYPTION_KEY);
  if (!key) throw new Error("no test encryption key");
  await createDb(testEnv())
    .insert(slackWorkspaces)
    .values({
      tenantId: TENANT,
      teamId: TEAM,
      botTokenEncrypted: await encryptSecret(BOT_TOKEN, key),
      signingSecretEncrypted: await encryptSecret(SIGNING_SECRET, key),
      defaultChannel: "C0DEFAULT",
      createdBy: "test",
      updatedBy: "test",
    });
  admin = await createTestKey("admin");
  agent = await createTestKey("agent", { principalId: `bot-${RUN}`, tenantId: TENANT });
  alice = await createTestKey("approver", { principalId: `alice-${RUN}`, tenantId: TENANT, maxLevel: 4 });
  bob = await createTestKey("approver", { principalId: `bob-${RUN}`, tenantId: TENANT, maxLevel: 4 });
  carol = await createTestKey("approver", { principalId: `carol-${RUN}`, tenantId: TENANT, maxLevel: 3 });
  dave = await createTestKey("approver", { principalId: `dave-${RUN}`, tenantId: null, maxLevel: 5 });
  // The requester's principal also holds an approver key: it must still never decide its own request.
  await createTestKey("approver", { principalId: agent.principalId, tenantId: TENANT, maxLevel: 5 });
  for (const [name, key] of [
    ["alice", alice],
    ["bob", bob],
    ["carol", carol],
    ["dave", dave],
    ["requester", agent],
  ] as const) {
    await link(user(name), key.principalId);
  }
  // Every request of the tenant needs two distinct level-4 approvals.
  const policy = await postJson(
    "/api/v1/admin/policies/approval-levels",
    { policy_type: "cost", tenant_id: TENANT, approval_level: "manual_approve", required_approvals: 2 },
    admin.headers,
  );
  expect(policy.status, await policy.clone().text()).toBe(201);
});

afterEach(() => {
  vi.restoreAllMocks();
});

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

interface Signed {
  timestamp?: string;
  secret?: string;
  signature?: string | null;
  headers?: Record<string, string>;
}

async function signedPost(path: string, body: string, options: Signed = {}, env: Partial<Bindings> = {}) {
  const timestamp = options.timestamp ?? nowSeconds();
  const signature =
    options.signature === undefined
      ? await slackSignature(options.secret ?? SIGNING_SECRET, timestamp, body)
      : options.signature;
  const headers: Record<string, string> = {
    "Content-Type": "application/x-www-form-urlencoded",
    "X-Slack-Request-Timestamp": timestamp,
    ...(signature === null ? {} : { "X-Slack-Signature": signature }),
    ...options.headers,
  };
  return call(path, { method: "POST", headers, body }, { ...ENV, ...env });
}

const formOf = (payload: unknown) => `payload=${encodeURIComponent(JSON.stringify(payload))}`;
const responseUrl = (name: string) => `${RECEIVER}/slack/response/${name}-${RUN}`;

function click(slackUser: string, action: "approve" | "reject", value: string, reply: string) {
  return {
    type: "block_actions",
    team: { id: TEAM, domain: "test" },
    user: { id: slackUser, team_id: TEAM, username: "someone" },
    trigger_id: `trigger-${reply}`,
    response_url: responseUrl(reply),
    container: { type: "message", channel_id: "C0DEFAULT", message_ts: "1.000001" },
    actions: [{ type: "button", action_id: action, block_id: "decide", value }],
  };
}

function reasonSubmission(slackUser: string, requestId: string, reason: string | null, reply: string) {
  return {
    type: "view_submission",
    team: { id: TEAM },
    user: { id: slackUser, team_id: TEAM },
    view: {
      id: "V1",
      callback_id: "policy_reject",
      private_metadata: JSON.stringify({ request_id: requestId, response_url: responseUrl(reply) }),
      state: { values: { reason: { reason: { type: "plain_text_input", value: reason } } } },
    },
  };
}

interface SlackCall {
  method: string;
  token: string | null;
  json: Record<string, unknown> | null;
}

async function slackCalls(query: string): Promise<SlackCall[]> {
  return (await (await fetch(`${RECEIVER}/slack/_calls?${query}`)).json()) as SlackCall[];
}

/** The ephemeral replies posted on a response_url, as their texts. */
async function replies(name: string): Promise<string[]> {
  const calls = await slackCalls(`path=${encodeURIComponent(`/slack/response/${name}-${RUN}`)}`);
  for (const reply of calls) {
    expect(reply.json).toMatchObject({ response_type: "ephemeral", replace_original: false });
  }
  return calls.map((reply) => String(reply.json?.text));
}

async function readRequest(id: string) {
  const res = await call(`/api/v1/policy/requests/${id}`, { headers: admin.headers });
  return (await res.json()) as {
    status: string;
    approvers: { approver_id: string; action: string; notes: string | null; via?: string }[];
  };
}

const file = () => fileRequest(agent, { tenant_id: TENANT });

describe("the signature (Slack's published example)", () => {
  const body =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
  const secret = "8f742231b10e8888abcd99yyyzzz85a5";
  const signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
  const at = 1531420618_000;

  it("verifies, and nothing else does", async () => {
    const check = (request: Partial<Parameters<typeof slackSignatureRefusal>[0]>, nowMs = at, key = secret) =>
      slackSignatureRefusal({ signature, timestamp: "1531420618", rawBody: body, ...request }, key, nowMs);
    expect(await slackSignature(secret, "1531420618", body)).toBe(signature);
    expect(await check({})).toBeNull();
    expect(await check({ rawBody: `${body}&text=approve` })).toBe("mismatch");
    expect(await check({}, at, `${secret}x`)).toBe("mismatch");
    expect(await check({ timestamp: "1531420619" })).toBe("mismatch");
    expect(await check({}, at + 301_000)).toBe("stale");
    expect(await check({}, at - 301_000)).toBe("stale");
    expect(await check({}, at + 299_000)).toBeNull();
    expect(await check({ signature: undefined })).toBe("missing");
    expect(await check({ timestamp: "" })).toBe("missing");
    expect(await check({ signature: signature.toUpperCase() })).toBe("malformed");
    expect(await check({ signature: `v1=${signature.slice(3)}` })).toBe("malformed");
    expect(await check({ timestamp: "1531420618.5" })).toBe("malformed");
  });
});

describe("who may post (no API key: the signature is the authentication)", () => {
  it("refuses altered, forged, stale, future, unsigned and replayed requests with one 401, deciding nothing", async () => {
    const id = await file();
    const body = formOf(click(user("alice"), "approve", id, "forged"));
    const ts = nowSeconds();
    const good = await slackSignature(SIGNING_SECRET, ts, body);
    const attempts: [string, Promise<Response>][] = [
      [
        "altered body",
        signedPost(INTERACTIONS, body.replace("approve", "reject"), { timestamp: ts, signature: good }),
      ],
      ["wrong secret", signedPost(INTERACTIONS, body, { secret: "not-the-signing-secret" })],
      ["old timestamp", signedPost(INTERACTIONS, body, { timestamp: String(Number(ts) - 301) })],
      // A minute past the window: the server reads its clock after this one, so a loaded machine must
      // not bring a just-too-late timestamp back inside the window.
      ["future timestamp", signedPost(INTERACTIONS, body, { timestamp: String(Number(ts) + 360) })],
      ["no signature", signedPost(INTERACTIONS, body, { signature: null })],
      ["malformed signature", signedPost(INTERACTIONS, body, { signature: "v0=zz" })],
      ["unknown tenant", signedPost(`/integrations/slack/nope-${RUN}/interactions`, body)],
      ["invalid tenant id", signedPost("/integrations/slack/%00/interactions", body)],
    ];
    for (const [label, attempt] of attempts) {
      const res = await attempt;
      expect(res.status, label).toBe(401);
      const text = await res.text();
      expect(JSON.parse(text).error.code, label).toBe("unauthorized");
      expect(text, label).not.toMatch(/signature|timestamp|tenant|workspace/i);
    }
    expect(await replies("forged")).toEqual([]);
    expect((await readRequest(id)).approvers).toEqual([]);
  });

  it("acts on a request once: the same signed request replayed is refused", async () => {
    const id = await file();
    const body = formOf(click(user("alice"), "approve", id, "replay"));
    const ts = nowSeconds();
    const signature = await slackSignature(SIGNING_SECRET, ts, body);
    expect((await signedPost(INTERACTIONS, body, { timestamp: ts, signature })).status).toBe(200);
    expect((await signedPost(INTERACTIONS, body, { timestamp: ts, signature })).status).toBe(401);
    expect(await replies("replay")).toHaveLength(1);
    expect((await readRequest(id)).approvers).toHaveLength(1);
    // Two copies at once: the receipt's INSERT … ON CONFLICT lets exactly one through.
    const other = await file();
    const copy = formOf(click(user("bob"), "approve", other, "race"));
    const at = nowSeconds();
    const signed = await slackSignature(SIGNING_SECRET, at, copy);
    const statuses = await Promise.all(
      [1, 2, 3].map(() => signedPost(INTERACTIONS, copy, { timestamp: at, signature: signed })),
    );
    expect(statuses.map((res) => res.status).sort()).toEqual([200, 401, 401]);
    expect((await readRequest(other)).approvers).toHaveLength(1);
  });

  it("refuses a request signed for this workspace but naming another team", async () => {
    const id = await file();
    const payload = { ...click(user("alice"), "approve", id, "team"), team: { id: "TOTHERTEAM" } };
    expect((await signedPost(INTERACTIONS, formOf(payload))).status).toBe(401);
    expect((await readRequest(id)).approvers).toEqual([]);
  });

  it("bounds the body and takes only forms", async () => {
    const big = await signedPost(INTERACTIONS, `payload=${"a".repeat(70 * 1024)}`);
    expect(big.status).toBe(413);
    const json = await signedPost(INTERACTIONS, "{}", { headers: { "Content-Type": "application/json" } });
    expect(json.status).toBe(415);
  });
});

describe("deciding from Slack as the linked principal", () => {
  it("takes a 2-of-N quorum through two linked Slack users, each told what their click did", async () => {
    const id = await file();
    expect((await signedPost(INTERACTIONS, formOf(click(user("alice"), "approve", id, "q1")))).status).toBe(
      200,
    );
    expect(await replies("q1")).toEqual([expect.stringContaining("counts: 1 of 2 approvals needed")]);
    expect((await readRequest(id)).status).toBe("pending");
    // The same person again adds nothing toward the quorum.
    await signedPost(INTERACTIONS, formOf(click(user("alice"), "approve", id, "q1again")));
    expect((await readRequest(id)).status).toBe("pending");
    expect((await signedPost(INTERACTIONS, formOf(click(user("bob"), "approve", id, "q2")))).status).toBe(
      200,
    );
    expect(await replies("q2")).toEqual([expect.stringContaining("is now *approved*")]);
    const read = await readRequest(id);
    expect(read.status).toBe("approved");
    expect(read.approvers.map((entry) => entry.approver_id)).toEqual(
      expect.arrayContaining([alice.principalId, bob.principalId]),
    );
    // "via slack" on each entry, and so in the audit chain's record of the change.
    expect(read.approvers.map((entry) => entry.via)).toEqual(read.approvers.map(() => "slack"));
    const [audited] = (await testSql().query(
      `SELECT content FROM audit_chain WHERE source_table = 'approval_requests' AND source_id = $1
        AND kind = 'approval_request.changed' ORDER BY seq DESC LIMIT 1`,
      [id],
    )) as { content: string }[];
    expect(String(audited?.content)).toContain(`"via": "slack"`);
    // Decided: a late click is told so (409 from the one approval service).
    await signedPost(INTERACTIONS, formOf(click(user("dave"), "approve", id, "late")));
    expect(await replies("late")).toEqual([
      expect.stringMatching(/^Not recorded for `apr_[0-9a-f]{16}`: The request is already approved/),
    ]);
  });

  it("approves only the filed payload its card shows: once an approver changed it (issue 27), Slack is refused", async () => {
    const id = await file();
    // Dave approves with changes through the API; the Slack card still shows the filed payload.
    const edited = await postJson(
      `/api/v1/policy/requests/${id}/approve`,
      { payload: { amount: 80 } },
      dave.headers,
    );
    expect(edited.status, await edited.clone().text()).toBe(200);
    await signedPost(INTERACTIONS, formOf(click(user("alice"), "approve", id, "edited")));
    expect(await replies("edited")).toEqual([expect.stringContaining("payload changed since you read it")]);
    const read = await readRequest(id);
    expect(read.status).toBe("pending");
    expect(read.approvers.map((entry) => entry.approver_id)).toEqual([dave.principalId]);
  });

  it("refuses an unlinked user, with an ephemeral explanation, a log line and a count", async () => {
    const id = await file();
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const metrics = recordingDataset();
    await signedPost(
      INTERACTIONS,
      formOf(click(user("mallory"), "approve", id, "unlinked")),
      {},
      {
        METRICS: metrics,
      },
    );
    expect(metrics.totals()).toMatchObject({ "nova_slack_actions_total{outcome=refused}": 1 });
    expect(await replies("unlinked")).toEqual([expect.stringContaining("not linked")]);
    const refusal = lines.map((line) => JSON.parse(line)).find((line) => line.msg === "slack_action_refused");
    expect(refusal).toMatchObject({ reason: "not_linked", via: "slack", tenant_id: TENANT });
    expect((await readRequest(id)).approvers).toEqual([]);
  });

  it("refuses a user under the request's level (not even a note) and one holding no deciding key", async () => {
    const id = await file();
    await signedPost(INTERACTIONS, formOf(click(user("carol"), "approve", id, "under")));
    expect(await replies("under")).toEqual([expect.stringContaining("needs level 4 (manual_approve)")]);
    // An agent key only: linked, but not an approver.
    const agentOnly = await createTestKey("agent", { principalId: `agent-only-${RUN}`, tenantId: TENANT });
    await link(user("agentonly"), agentOnly.principalId);
    await signedPost(INTERACTIONS, formOf(click(user("agentonly"), "reject", id, "nokey")));
    expect(await replies("nokey")).toEqual([expect.stringContaining("no live approver or admin key")]);
    expect((await readRequest(id)).approvers).toEqual([]);
  });

  it("decides only with a live key covering the tenant: revoked at once, another tenant's key never", async () => {
    const id = await file();
    const erin = await createTestKey("approver", {
      principalId: `erin-${RUN}`,
      tenantId: TENANT,
      maxLevel: 4,
    });
    await createTestKey("approver", { principalId: erin.principalId, tenantId: "acme", maxLevel: 5 });
    await link(user("erin"), erin.principalId);
    const revoked = await call(`/api/v1/admin/keys/${erin.keyId}`, {
      method: "DELETE",
      headers: admin.headers,
    });
    expect(revoked.status).toBe(200);
    await signedPost(INTERACTIONS, formOf(click(user("erin"), "approve", id, "revoked")));
    expect(await replies("revoked")).toEqual([expect.stringContaining("no live approver or admin key")]);
    expect((await readRequest(id)).approvers).toEqual([]);
  });

  it("folds ids like every entry point: the tenant in the path and the request id in the button", async () => {
    const id = await file();
    const path = `/integrations/slack/${TENANT.toUpperCase()}/interactions`;
    await signedPost(path, formOf(click(user("alice"), "approve", ` ${id.toUpperCase()} `, "folded")));
    expect(await replies("folded")).toEqual([expect.stringContaining(`\`${id}\` counts: 1 of 2`)]);
  });

  it("refuses self-approval: the requester's principal linked in Slack cannot decide its own request", async () => {
    const id = await file();
    await signedPost(INTERACTIONS, formOf(click(user("requester"), "approve", id, "self")));
    expect(await replies("self")).toEqual([expect.stringContaining("cannot decide it")]);
    expect((await readRequest(id)).approvers).toEqual([]);
  });

  it("never reaches another tenant's request, even for a key covering every tenant", async () => {
    const outsider = await createTestKey("agent", { principalId: `other-bot-${RUN}`, tenantId: "acme" });
    const foreign = await fileRequest(outsider, { tenant_id: "acme" });
    await signedPost(INTERACTIONS, formOf(click(user("dave"), "approve", foreign, "foreign")));
    expect(await replies("foreign")).toEqual(["No such request in this workspace's tenant."]);
    expect((await readRequest(foreign)).approvers).toEqual([]);
    await signedPost(INTERACTIONS, formOf(click(user("dave"), "approve", "apr_not-an-id", "garbage")));
    expect(await replies("garbage")).toEqual(["No such request in this workspace's tenant."]);
  });

  it("sends requests above the workspace's Slack level to the console", async () => {
    const db = createDb(testEnv());
    await db.update(slackWorkspaces).set({ maxDecideLevel: 3 }).where(eq(slackWorkspaces.tenantId, TENANT));
    try {
      const id = await file();
      await signedPost(INTERACTIONS, formOf(click(user("dave"), "approve", id, "console")));
      expect(await replies("console")).toEqual([expect.stringContaining("open it in the console")]);
      expect((await readRequest(id)).approvers).toEqual([]);
    } finally {
      await db.update(slackWorkspaces).set({ maxDecideLevel: 4 }).where(eq(slackWorkspaces.tenantId, TENANT));
    }
  });
});

describe("rejecting: the reason modal", () => {
  it("opens a modal with a required reason, refuses an empty one, and rejects with the reason given", async () => {
    const id = await file();
    expect((await signedPost(INTERACTIONS, formOf(click(user("alice"), "reject", id, "rj")))).status).toBe(
      200,
    );
    const opened = (await slackCalls(`token=${encodeURIComponent(BOT_TOKEN)}`)).filter(
      (entry) => entry.method === "views.open" && entry.json?.trigger_id === "trigger-rj",
    );
    expect(opened).toHaveLength(1);
    const view = opened[0]?.json?.view as {
      callback_id: string;
      private_metadata: string;
      blocks: unknown[];
    };
    expect(view.callback_id).toBe("policy_reject");
    expect(JSON.parse(view.private_metadata)).toEqual({ request_id: id, response_url: responseUrl("rj") });
    expect(view.blocks).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: "input", block_id: "reason" })]),
    );

    for (const empty of [null, "", "   \n "]) {
      const res = await signedPost(INTERACTIONS, formOf(reasonSubmission(user("alice"), id, empty, "rj")));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        response_action: "errors",
        errors: { reason: expect.any(String) },
      });
    }
    expect((await readRequest(id)).status).toBe("pending");

    const reason = "Not this week <!channel> & @here <@U123>";
    const res = await signedPost(INTERACTIONS, formOf(reasonSubmission(user("alice"), id, reason, "rj")));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
    const read = await readRequest(id);
    expect(read.status).toBe("rejected");
    // The record keeps what was written; only what Slack shows is neutralised.
    expect(read.approvers[0]).toMatchObject({
      approver_id: alice.principalId,
      action: "reject",
      notes: reason,
    });
    expect(await replies("rj")).toEqual([expect.stringContaining("is now *rejected*")]);
  });

  it("checks the person again at submission: an unlinked user's forged submission rejects nothing", async () => {
    const id = await file();
    await signedPost(INTERACTIONS, formOf(reasonSubmission(user("mallory"), id, "because", "rjforged")));
    expect(await replies("rjforged")).toEqual([expect.stringContaining("not linked")]);
    expect((await readRequest(id)).status).toBe("pending");
  });
});

describe("the /policy command", () => {
  const command = (slackUser: string, text: string, reply: string) =>
    new URLSearchParams({
      token: "legacy-verification-token",
      team_id: TEAM,
      user_id: slackUser,
      command: "/policy",
      text,
      response_url: responseUrl(reply),
      trigger_id: "t",
    }).toString();

  it("answers help, whoami (the linked principal) and link (a console code, once)", async () => {
    expect((await signedPost(COMMANDS, command(user("alice"), "help", "help"))).status).toBe(200);
    expect(await replies("help")).toEqual([expect.stringContaining("/policy link <code>")]);
    await signedPost(COMMANDS, command(user("alice"), "whoami", "whoami"));
    expect(await replies("whoami")).toEqual([expect.stringContaining(`\`${alice.principalId}\``)]);
    await signedPost(COMMANDS, command(user("mallory"), "WhoAmI", "whoami2"));
    expect(await replies("whoami2")).toEqual([expect.stringContaining("not linked")]);
    await signedPost(COMMANDS, command(user("mallory"), "link 123456", "link"));
    expect(await replies("link")).toEqual([expect.stringContaining("Not linked:")]);
    // A code Carol's console showed her, typed in Slack by her own account: linked, then spent.
    const key = await slackLinkCodeKey(TEST_WEBHOOK_ENCRYPTION_KEY);
    const { code } = await mintSlackLinkCode(key, { tenantId: TENANT, principalId: carol.principalId });
    await signedPost(COMMANDS, command(user("carolslack"), `link ${code}`, "linked"));
    expect(await replies("linked")).toEqual([expect.stringContaining(`\`${carol.principalId}\``)]);
    await signedPost(COMMANDS, command(user("carolslack"), "whoami", "whoami3"));
    expect(await replies("whoami3")).toEqual([expect.stringContaining(`\`${carol.principalId}\``)]);
    await signedPost(COMMANDS, command(user("mallory"), `link ${code}`, "reused"));
    expect(await replies("reused")).toEqual([expect.stringContaining("Not linked:")]);
    await signedPost(COMMANDS, command(user("mallory"), "whoami", "whoami4"));
    expect(await replies("whoami4")).toEqual([expect.stringContaining("not linked")]);
  });

  it("is signed like the interactions: a forged command is 401", async () => {
    const res = await signedPost(COMMANDS, command(user("alice"), "whoami", "cmdforged"), {
      secret: "guess",
    });
    expect(res.status).toBe(401);
    expect(await replies("cmdforged")).toEqual([]);
  });
});

describe("secrets and human text", () => {
  it("logs neither the bot token, the signing secret nor a signature", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const id = await file();
    const body = formOf(click(user("alice"), "reject", id, "logs"));
    const ts = nowSeconds();
    const signature = await slackSignature(SIGNING_SECRET, ts, body);
    await signedPost(INTERACTIONS, body, { timestamp: ts, signature });
    await signedPost(INTERACTIONS, body, { timestamp: ts, signature });
    await signedPost(INTERACTIONS, body, { secret: "wrong" });
    await signedPost(INTERACTIONS, formOf(reasonSubmission(user("alice"), id, "no", "logs")));
    const text = lines.join("\n");
    expect(text).toContain("slack_request_refused");
    for (const secret of [BOT_TOKEN, SIGNING_SECRET, signature, signature.slice(3)]) {
      expect(text).not.toContain(secret);
    }
  });

  it("answers only on Slack's response URLs (or the configured fake's origin)", () => {
    const base = "https://slack.com/api/";
    expect(responseUrlAllowed("https://hooks.slack.com/actions/T1/1/x", base)).toBe(true);
    expect(responseUrlAllowed("http://hooks.slack.com/actions/T1/1/x", base)).toBe(false);
    expect(responseUrlAllowed("https://hooks.slack.com.evil.example/x", base)).toBe(false);
    expect(responseUrlAllowed("https://169.254.169.254/latest/meta-data", base)).toBe(false);
    expect(responseUrlAllowed("not a url", base)).toBe(false);
    expect(responseUrlAllowed(`${RECEIVER}/slack/response/x`, ENV.SLACK_API_BASE_URL)).toBe(true);
  });

  it("escapes mrkdwn and defuses mentions in quoted text", () => {
    const quoted = slackQuotedText(
      "a & b <!channel> <@U1> <#C1|x> <https://evil|bank> @here @Everyone\u200b\nnext",
    );
    expect(quoted).toBe(
      "a &amp; b &lt;!channel&gt; &lt;@U1&gt; &lt;#C1|x&gt; &lt;https://evil|bank&gt; @\u2060here @\u2060Everyone ↵ next",
    );
    expect(quoted).not.toMatch(/[<>]/);
  });
});
