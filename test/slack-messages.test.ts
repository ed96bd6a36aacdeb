// Slack messages through the one notification engine (issue 26): a tenant with a Slack workspace gets
// one `slack` delivery per plan, and the worker's real queue() consumer posts it (chat.postMessage) to
// the routed channel of the fake Slack Web API (scripts/lib/fake-slack.ts), records it, and updates it
// (chat.update) when an approval of a quorum is counted and when the request is decided, from the API
// or the console. Each test has its own tenant and bot token, whose name picks the fake's answers
// (429, 500, invalid_auth). The blocks are checked against Block Kit's documented shapes and limits.
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { notificationContent } from "../src/domain/notification-content.ts";
import {
  quorumProgress,
  SLACK_LIMITS,
  type SlackBlock,
  type SlackMessage,
  slackEscape,
  slackMessage,
} from "../src/domain/slack-blocks.ts";
import type { ApprovalEntry } from "../src/domain/vocabulary.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { encryptSecret, importEncryptionKey } from "../src/lib/secrets.ts";
import { createServiceContext } from "../src/services/context.ts";
import { runNotifications } from "../src/services/notifications/planner.ts";
import { classifySlackAnswer } from "../src/services/slack/send.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { consumeDeliveries, type RecordingQueue, recordingQueue } from "./helpers/queue.ts";

const RECEIVER = inject("webhookReceiverUrl");
const RUN = crypto.randomUUID().slice(0, 8);
const REQUESTS = "/api/v1/policy/requests";
const SLACK = { SLACK_API_BASE_URL: `${RECEIVER}/slack/api/` } as const;
const HOSTILE =
  "APPROVED. <!channel> <!here> <!everyone> <@U0ADMIN> <#C0SECRET|general> <!subteam^S0OPS> " +
  "<https://evil.example/login|Approve here> @channel & @here *bold* `code`";

let agent: TestKey;
let alice: TestKey;
let bob: TestKey;
let admin: TestKey;

interface SlackCall {
  method: string;
  token: string | null;
  status: number;
  json: Record<string, unknown> | null;
}

async function slackCalls(token: string): Promise<SlackCall[]> {
  const res = await fetch(`${RECEIVER}/slack/_calls?token=${encodeURIComponent(token)}`);
  return (await res.json()) as SlackCall[];
}

let workspaces = 0;

/** A tenant with a Slack workspace whose bot token is `xoxb-<scenario>-…` (the fake answers by it). */
async function workspace(
  scenario: string,
  options: { maxDecideLevel?: number; routes?: unknown[] } = {},
): Promise<{ tenant: string; token: string; channel: string }> {
  workspaces += 1;
  const tenant = `slk-${RUN}-${workspaces}`;
  const token = `xoxb-${scenario}-${RUN}-${workspaces}-secrettoken`;
  const channel = `C0DEF${workspaces}`;
  const key = await importEncryptionKey(testEnv().WEBHOOK_ENCRYPTION_KEY);
  if (!key) throw new Error("no WEBHOOK_ENCRYPTION_KEY in the test env");
  await testSql().query(
    `INSERT INTO slack_workspaces (tenant_id, team_id, bot_token_encrypted, signing_secret_encrypted,
       default_channel, routes, max_decide_level, created_by, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, 'test', 'test')`,
    [
      tenant,
      `T0${workspaces}`,
      await encryptSecret(token, key),
      await encryptSecret(`signing-${RUN}`, key),
      channel,
      JSON.stringify(options.routes ?? []),
      options.maxDecideLevel ?? 4,
    ],
  );
  return { tenant, token, channel };
}

async function file(
  queue: RecordingQueue,
  tenant: string,
  body: Record<string, unknown> = {},
): Promise<{ request_id: string; required_level: number; status: string }> {
  const res = await postJson(
    REQUESTS,
    {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: tenant,
      payload: { amount: 120 },
      requested_by: agent.principalId,
      ...body,
    },
    agent.headers,
    { WEBHOOK_QUEUE: queue.binding },
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { request_id: string; required_level: number; status: string };
}

interface SlackRow {
  id: number;
  notification_kind: string;
  status: string;
  last_error: string | null;
  contact_id: number | null;
  recipient_id: string | null;
}

async function slackDeliveries(requestId: string, kind?: string): Promise<SlackRow[]> {
  const rows = (await testSql().query(
    `SELECT id::int AS id, notification_kind, status, last_error, contact_id::int AS contact_id, recipient_id
     FROM webhook_outbox WHERE request_id = $1 AND channel = 'slack' ORDER BY id`,
    [requestId],
  )) as SlackRow[];
  return kind ? rows.filter((row) => row.notification_kind === kind) : rows;
}

async function postedMessages(requestId: string) {
  return (await testSql().query(
    "SELECT channel, ts, delivery_id::int AS delivery_id, updated_at FROM slack_messages WHERE request_id = $1 ORDER BY id",
    [requestId],
  )) as { channel: string; ts: string; delivery_id: number; updated_at: string | null }[];
}

/**
 * Every text a message shows, by kind: mrkdwn (Slack parses it), plain_text, and "literal" (a rich_text
 * text run, shown as written: formatting, links and mentions would be elements of their own).
 */
function textsOf(
  message: Pick<SlackMessage, "blocks">,
): { type: string; text: string; verbatim?: boolean }[] {
  const texts: { type: string; text: string; verbatim?: boolean }[] = [];
  for (const block of message.blocks) {
    if (block.type === "header" || block.type === "section") texts.push(block.text);
    if (block.type === "context") texts.push(...block.elements);
    if (block.type === "actions") texts.push(...block.elements.map((button) => button.text));
    if (block.type === "rich_text") {
      for (const element of block.elements) {
        texts.push(...element.elements.map((run) => ({ type: "literal", text: run.text })));
      }
    }
  }
  return texts;
}

/** The rich_text blocks as label → literal value (the runs of their second element). */
function humanFacts(message: Pick<SlackMessage, "blocks">): Map<string, { kind: string; text: string }> {
  const facts = new Map<string, { kind: string; text: string }>();
  for (const block of message.blocks) {
    if (block.type !== "rich_text") continue;
    const [label, value] = block.elements;
    facts.set(label?.elements.map((run) => run.text).join("") ?? "", {
      kind: value?.type ?? "",
      text: value?.elements.map((run) => run.text).join("") ?? "",
    });
  }
  return facts;
}

function actionIds(message: Pick<SlackMessage, "blocks">): string[] {
  return message.blocks.flatMap((block) =>
    block.type === "actions" ? block.elements.map((button) => button.action_id) : [],
  );
}

/**
 * Block Kit's documented shapes and limits (api.slack.com/reference/block-kit/blocks, /block-elements,
 * /composition-objects): ≤ 50 blocks; header: plain_text ≤ 150; section text 1–3000; context ≤ 10
 * elements; actions ≤ 25 elements, block_id ≤ 255; button: plain_text ≤ 75, action_id ≤ 255, value
 * ≤ 2000, url ≤ 3000, style primary|danger; mrkdwn's verbatim a boolean.
 */
function expectBlockKit(message: SlackMessage): void {
  expect(typeof message.text).toBe("string");
  expect(message.text.length).toBeGreaterThan(0);
  expect(message.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
  expect(message.blocks.length).toBeGreaterThan(0);
  expect(message.blocks.length).toBeLessThanOrEqual(50);
  for (const block of message.blocks as SlackBlock[]) {
    switch (block.type) {
      case "header":
        expect(block.text.type).toBe("plain_text");
        expect(block.text.text.length).toBeLessThanOrEqual(150);
        break;
      case "section":
        expect(["mrkdwn", "plain_text"]).toContain(block.text.type);
        expect(block.text.text.length).toBeGreaterThan(0);
        expect(block.text.text.length).toBeLessThanOrEqual(3000);
        break;
      case "context":
        expect(block.elements.length).toBeLessThanOrEqual(10);
        break;
      case "actions":
        expect(block.elements.length).toBeGreaterThan(0);
        expect(block.elements.length).toBeLessThanOrEqual(25);
        expect(block.block_id.length).toBeLessThanOrEqual(255);
        for (const button of block.elements) {
          expect(button.type).toBe("button");
          expect(button.text.type).toBe("plain_text");
          expect(button.text.text.length).toBeLessThanOrEqual(75);
          expect(button.action_id.length).toBeLessThanOrEqual(255);
          if (button.value !== undefined) expect(button.value.length).toBeLessThanOrEqual(2000);
          if (button.url !== undefined) expect(button.url.length).toBeLessThanOrEqual(3000);
          if (button.style !== undefined) expect(["primary", "danger"]).toContain(button.style);
        }
        break;
      case "divider":
        break;
      case "rich_text":
        expect(block.elements.length).toBeGreaterThan(0);
        for (const element of block.elements) {
          expect(["rich_text_section", "rich_text_quote", "rich_text_preformatted"]).toContain(element.type);
          for (const run of element.elements) {
            expect(run.type).toBe("text");
            expect(run.text.length).toBeGreaterThan(0);
            expect(run.text.length).toBeLessThanOrEqual(3000);
          }
        }
        break;
      default:
        throw new Error(`unexpected block ${JSON.stringify(block)}`);
    }
  }
}

/**
 * Nothing Slack parses carries a `<…>` control sequence (mention, channel, user group, link) or a
 * formatting character from people's text; no text anywhere has a bare broadcast word.
 */
function expectNothingLive(message: Pick<SlackMessage, "blocks" | "text">): void {
  const parsed = [message.text, ...textsOf(message).flatMap((t) => (t.type === "literal" ? [] : [t.text]))];
  for (const text of parsed) {
    expect(text).not.toMatch(/<[!@#]|<https?:|<mailto:/);
    expect(text).not.toMatch(/[<>]/);
    expect(text).not.toMatch(/APPROVED|evil|`/);
  }
  for (const { text } of textsOf(message)) expect(text).not.toMatch(/@(channel|here|everyone)\b/);
  for (const text of textsOf(message)) if (text.type === "mrkdwn") expect(text.verbatim).toBe(true);
}

beforeAll(async () => {
  agent = await createTestKey("agent", { principalId: `slk-agent-${RUN}` });
  alice = await createTestKey("approver", { principalId: `slk-alice-${RUN}`, maxLevel: 5 });
  bob = await createTestKey("approver", { principalId: `slk-bob-${RUN}`, maxLevel: 5 });
  admin = await createTestKey("admin", { principalId: `slk-admin-${RUN}` });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("Block Kit (pure)", () => {
  const request = {
    id: "req_0123456789abcdef",
    tenantId: "acme",
    skillId: "payments.transfer",
    policyType: "cost",
    agentId: "bot-1",
    requestedBy: "bot-1",
    payload: { note: "<!channel> pay now", amount: 120 },
    justification: HOSTILE,
    requiredLevel: 3,
    requiredApprovals: 2,
    status: "pending",
    expiresAt: new Date(Date.now() + 3600_000),
    approvalsJson: [] as ApprovalEntry[],
    statusHistoryJson: [],
  };
  const options = (overrides: Partial<Parameters<typeof slackMessage>[1]> = {}) => ({
    progress: quorumProgress(request.approvalsJson, 2),
    consoleUrl: "https://console.example/console/requests/req_0123456789abcdef",
    maxDecideLevel: 4,
    open: true,
    ...overrides,
  });

  it("needs approval: fixed headline, facts, k of n, Approve (primary) / Reject (danger) with the request id, Open in console", () => {
    const content = notificationContent(
      request,
      "approval_needed",
      { principalId: null },
      "https://x.example/",
    );
    const message = slackMessage(content, options());
    expectBlockKit(message);
    expect(message.blocks[0]).toMatchObject({ type: "header", text: { type: "plain_text" } });
    expect(message.text).toMatch(/^APPROVAL NEEDED: request req_0123456789abcdef /);
    const all = textsOf(message)
      .map((t) => t.text)
      .join("\n");
    expect(all).toContain("*Approvals:* 0 of 2");
    expect(all).toContain("level 3");
    const actions = message.blocks.find((block) => block.type === "actions");
    expect(actions).toEqual({
      type: "actions",
      block_id: "decision:req_0123456789abcdef",
      elements: [
        expect.objectContaining({ action_id: "approve", style: "primary", value: request.id }),
        expect.objectContaining({ action_id: "reject", style: "danger", value: request.id }),
        expect.objectContaining({ action_id: "open_console", url: options().consoleUrl }),
      ],
    });
  });

  it("a hostile justification and payload carry no live mention or link, and never lead", () => {
    const content = notificationContent(
      request,
      "approval_needed",
      { principalId: null },
      "https://x.example/",
    );
    const message = slackMessage(content, options());
    expectBlockKit(message);
    expectNothingLive(message);
    // People's words and the payload are literal rich text: a quote and a preformatted JSON excerpt,
    // shown exactly as written (only the broadcast words carry an invisible word joiner).
    const facts = humanFacts(message);
    const justification = facts.get("Justification (the requester's words, quoted as data):");
    expect(justification?.kind).toBe("rich_text_quote");
    expect(justification?.text).toContain("<https://evil.example/login|Approve here>");
    expect(justification?.text).toContain("*bold* `code`");
    expect(justification?.text).toContain("@\u2060channel & @\u2060here");
    const payload = facts.get("Payload (JSON excerpt, data):");
    expect(payload?.kind).toBe("rich_text_preformatted");
    expect(payload?.text).toContain('"note":"<!channel> pay now"');
    expect(message.text.startsWith("APPROVAL NEEDED")).toBe(true);
    expect(slackEscape("a <@U1> & @everyone")).toBe("a &lt;@U1&gt; &amp; @\u2060everyone");
  });

  it("above max_decide_level, or no longer open, only Open in console", () => {
    const content = notificationContent(
      request,
      "approval_needed",
      { principalId: null },
      "https://x.example/",
    );
    expect(actionIds(slackMessage(content, options({ maxDecideLevel: 2 })))).toEqual(["open_console"]);
    expect(actionIds(slackMessage(content, options({ open: false })))).toEqual(["open_console"]);
  });

  it("decided: the outcome, who recorded it, notes quoted; no decision buttons", () => {
    const decided = {
      ...request,
      status: "rejected",
      approvalsJson: [
        {
          approver_id: "carol",
          level: 4,
          action: "reject" as const,
          notes: "<!here> no <https://evil.example|way>",
          timestamp: new Date().toISOString(),
        },
      ],
      statusHistoryJson: [
        {
          from_status: "pending" as const,
          to_status: "rejected" as const,
          actor: "carol",
          reason: "<@U0BOSS> said so",
          timestamp: new Date().toISOString(),
        },
      ],
    };
    const content = notificationContent(decided, "decided", { principalId: null }, "https://x.example/");
    const message = slackMessage(content, options({ open: false }));
    expectBlockKit(message);
    expectNothingLive(message);
    expect(actionIds(message)).toEqual(["open_console"]);
    const all = textsOf(message)
      .map((t) => t.text)
      .join("\n");
    expect(message.text).toMatch(/^DECIDED: request .* is rejected\.$/);
    expect(all).toContain("*Outcome:* rejected");
    expect(all).toContain("*Recorded by:* carol");
    expect(humanFacts(message).get("Reason (quoted as data):")?.text).toContain("<@U0BOSS> said so");
  });

  it("Slack's limits hold for huge human text and many notes: ≤ 3000 per section, ≤ 50 blocks", () => {
    const notes = Array.from({ length: 200 }, (_, i) => ({
      approver_id: `approver-${i}`,
      level: 4,
      action: "note" as const,
      notes: "&<>".repeat(500),
      timestamp: new Date().toISOString(),
    }));
    const huge = {
      ...request,
      status: "rejected",
      justification: "<".repeat(10_000),
      approvalsJson: notes,
      statusHistoryJson: [],
    };
    const content = notificationContent(huge, "decided", { principalId: null }, "https://x.example/");
    const message = slackMessage(content, options({ open: false }));
    expectBlockKit(message);
    // No entity cut in half at a section's end (rich text is literal: nothing was escaped there).
    for (const text of textsOf(message)) {
      if (text.type !== "literal") expect(text.text).not.toMatch(/&[a-z]{0,3}(…|$)/);
    }
  });
});

describe("Slack's answers, classified", () => {
  it("ok; 429 and ratelimited retried with Retry-After; 5xx and transient errors retried; the rest failed for good", () => {
    expect(classifySlackAnswer(200, { ok: true, ts: "1.2" }, null).kind).toBe("ok");
    expect(classifySlackAnswer(429, { ok: false, error: "ratelimited" }, 30)).toEqual({
      kind: "retry",
      status: 429,
      error: "ratelimited",
      retryAfter: 30,
    });
    expect(classifySlackAnswer(200, { ok: false, error: "ratelimited" }, 7)).toMatchObject({
      kind: "retry",
      retryAfter: 7,
    });
    expect(classifySlackAnswer(503, null, null)).toMatchObject({ kind: "retry", error: "http_503" });
    expect(classifySlackAnswer(200, { ok: false, error: "service_unavailable" }, null).kind).toBe("retry");
    expect(classifySlackAnswer(200, null, null).kind).toBe("retry");
    for (const error of [
      "invalid_auth",
      "channel_not_found",
      "not_in_channel",
      "is_archived",
      "msg_too_long",
    ]) {
      expect(classifySlackAnswer(200, { ok: false, error }, null)).toEqual({
        kind: "failed",
        status: 200,
        error,
      });
    }
    expect(classifySlackAnswer(404, null, null)).toEqual({ kind: "failed", status: 404, error: "http_404" });
    // A hostile or broken answer's error is cut, never trusted as more than a label.
    const long = classifySlackAnswer(200, { ok: false, error: "x".repeat(5000) }, null);
    expect(long.kind === "failed" && long.error.length).toBe(100);
  });
});

describe("posting and updating through the one engine", () => {
  it("a request needing approval posts one message to the routed channel, once, and records it; another tenant's request posts nothing", async () => {
    const { tenant, token } = await workspace("ok", {
      routes: [{ skill_pattern: "payments.*", channel: "C0PAYMENTS" }],
    });
    const queue = recordingQueue();
    const filed = await file(queue, tenant, { justification: HOSTILE });
    const [delivery, ...more] = await slackDeliveries(filed.request_id);
    expect(more).toEqual([]);
    expect(delivery).toMatchObject({
      notification_kind: "approval_needed",
      contact_id: null,
      recipient_id: null,
    });
    expect(queue.ids()).toContain(delivery?.id);

    const consumed = await consumeDeliveries([delivery?.id ?? 0], { env: SLACK });
    expect(consumed.acked).toEqual([delivery?.id]);
    expect(consumed.lines.length).toBeGreaterThan(0);
    const calls = await slackCalls(token);
    expect(calls.map((c) => c.method)).toEqual(["chat.postMessage"]);
    const posted = calls[0]?.json as unknown as SlackMessage & { channel: string; link_names: boolean };
    expect(posted.channel).toBe("C0PAYMENTS");
    expect(posted.link_names).toBe(false);
    expectBlockKit(posted);
    expectNothingLive(posted);
    expect(actionIds(posted)).toEqual(["approve", "reject", "open_console"]);
    expect(await postedMessages(filed.request_id)).toEqual([
      expect.objectContaining({ channel: "C0PAYMENTS", delivery_id: delivery?.id }),
    ]);
    expect((await slackDeliveries(filed.request_id))[0]?.status).toBe("delivered");
    expect(consumed.lines.join("\n")).not.toContain(token);

    // The ack was lost (the delivery still pending): the retry finds the message and posts nothing.
    await testSql().query("UPDATE webhook_outbox SET status = 'pending' WHERE id = $1", [delivery?.id]);
    await consumeDeliveries([delivery?.id ?? 0], { env: SLACK, attempts: 2 });
    expect((await slackCalls(token)).map((c) => c.method)).toEqual(["chat.postMessage"]);
    expect(await postedMessages(filed.request_id)).toHaveLength(1);

    // A tenant without a workspace: no slack delivery at all.
    const other = await file(recordingQueue(), `slk-none-${RUN}`);
    expect(await slackDeliveries(other.request_id)).toEqual([]);
  });

  it("a quorum's first approval updates the message to 1 of 2; the final approval updates it to the outcome and who decided", async () => {
    const { tenant, token, channel } = await workspace("ok");
    const queue = recordingQueue();
    const filed = await file(queue, tenant);
    await testSql().query("UPDATE approval_requests SET required_approvals = 2 WHERE id = $1", [
      filed.request_id,
    ]);
    await consumeDeliveries(queue.ids(), { env: SLACK });
    const [message] = await postedMessages(filed.request_id);
    expect(message?.channel).toBe(channel);

    queue.clear();
    const first = await postJson(
      `${REQUESTS}/${filed.request_id}/approve`,
      { notes: "<!channel> ok by me" },
      alice.headers,
      {
        WEBHOOK_QUEUE: queue.binding,
      },
    );
    expect(first.status, await first.clone().text()).toBe(200);
    const [progress] = await slackDeliveries(filed.request_id, "progress");
    expect(progress).toBeDefined();
    await consumeDeliveries(queue.ids(), { env: SLACK });
    const update = (await slackCalls(token)).at(-1);
    expect(update?.method).toBe("chat.update");
    expect(update?.json).toMatchObject({ channel, ts: message?.ts });
    const progressed = update?.json as unknown as SlackMessage;
    expectBlockKit(progressed);
    expect(progressed.text).toMatch(/^IN PROGRESS: .* has 1 of 2 approvals/);
    expect(
      textsOf(progressed)
        .map((t) => t.text)
        .join("\n"),
    ).toContain(`*Approvals:* 1 of 2 (${alice.principalId})`);

    queue.clear();
    const second = await postJson(`${REQUESTS}/${filed.request_id}/approve`, { notes: "fine" }, bob.headers, {
      WEBHOOK_QUEUE: queue.binding,
    });
    expect(second.status, await second.clone().text()).toBe(200);
    const [decided] = await slackDeliveries(filed.request_id, "decided");
    await consumeDeliveries([decided?.id ?? 0], { env: SLACK });
    const final = (await slackCalls(token)).at(-1);
    expect(final?.method).toBe("chat.update");
    const outcome = final?.json as unknown as SlackMessage;
    expectBlockKit(outcome);
    expectNothingLive(outcome);
    expect(outcome.text).toMatch(/^DECIDED: request .* is approved\.$/);
    const texts = textsOf(outcome)
      .map((t) => t.text)
      .join("\n");
    expect(texts).toContain("*Outcome:* approved");
    expect(texts).toContain(`*Recorded by:* ${bob.principalId}`);
    expect(actionIds(outcome)).toEqual(["open_console"]);
    expect((await postedMessages(filed.request_id))[0]?.updated_at).not.toBeNull();
  });

  it("a console decision updates the message to the outcome and who decided, notes quoted", async () => {
    const { tenant, token } = await workspace("ok");
    const queue = recordingQueue();
    const filed = await file(queue, tenant);
    await consumeDeliveries(queue.ids(), { env: SLACK });
    queue.clear();
    const { cookie, csrf } = await signIn(alice);
    const decided = await call(
      `/console/requests/${filed.request_id}/decide`,
      form(
        { _csrf: csrf, decision: "reject", notes: "<!here> not this one <https://evil.example|see>" },
        cookie,
      ),
      { WEBHOOK_QUEUE: queue.binding },
    );
    expect(decided.status).toBe(200);
    const [delivery] = await slackDeliveries(filed.request_id, "decided");
    await consumeDeliveries([delivery?.id ?? 0], { env: SLACK });
    const update = (await slackCalls(token)).at(-1);
    expect(update?.method).toBe("chat.update");
    const outcome = update?.json as unknown as SlackMessage;
    expectNothingLive(outcome);
    const texts = textsOf(outcome)
      .map((t) => t.text)
      .join("\n");
    expect(texts).toContain("*Outcome:* rejected");
    expect(texts).toContain(`*Recorded by:* ${alice.principalId}`);
    // The notes arrive as a literal rich-text quote: shown as written, never parsed.
    const notes = [...humanFacts(outcome)].find(([label]) =>
      label.startsWith(`Notes of ${alice.principalId}`),
    );
    expect(notes?.[1]).toEqual({
      kind: "rich_text_quote",
      text: `"<!here> not this one <https://evil.example|see>"`,
    });
    expect(actionIds(outcome)).toEqual(["open_console"]);
  });

  it("a decision with nothing posted is skipped; a wait announced after the decision is not posted", async () => {
    const { tenant, token } = await workspace("ok");
    const queue = recordingQueue();
    const filed = await file(queue, tenant);
    const waiting = queue.ids();
    queue.clear();
    const res = await postJson(`${REQUESTS}/${filed.request_id}/reject`, { notes: "no" }, alice.headers, {
      WEBHOOK_QUEUE: queue.binding,
    });
    expect(res.status).toBe(200);
    await consumeDeliveries(waiting, { env: SLACK });
    await consumeDeliveries(queue.ids(), { env: SLACK });
    expect(await slackCalls(token)).toEqual([]);
    const rows = await slackDeliveries(filed.request_id);
    expect(rows.map((row) => [row.notification_kind, row.status])).toEqual([
      ["approval_needed", "skipped"],
      ["decided", "skipped"],
    ]);
  });

  it("above the workspace's max_decide_level, the message offers only Open in console", async () => {
    const { tenant, token } = await workspace("ok", { maxDecideLevel: 1 });
    const queue = recordingQueue();
    const filed = await file(queue, tenant);
    expect(filed.required_level).toBeGreaterThan(1);
    await consumeDeliveries(queue.ids(), { env: SLACK });
    const posted = (await slackCalls(token))[0]?.json as unknown as SlackMessage;
    expectBlockKit(posted);
    expect(actionIds(posted)).toEqual(["open_console"]);
  });

  it("429 is retried honouring Retry-After, 5xx retried, then delivered once", async () => {
    for (const [scenario, status] of [
      ["ratelimited-1", 429],
      ["fail500-2", 500],
    ] as const) {
      const { tenant, token } = await workspace(scenario);
      const queue = recordingQueue();
      const filed = await file(queue, tenant);
      const [delivery] = await slackDeliveries(filed.request_id);
      const id = delivery?.id ?? 0;
      const tries = status === 429 ? 1 : 2;
      for (let attempt = 1; attempt <= tries; attempt += 1) {
        const consumed = await consumeDeliveries([id], { env: SLACK, attempts: attempt });
        expect(consumed.retried.has(id)).toBe(true);
        if (status === 429) expect(consumed.retried.get(id)).toBeGreaterThanOrEqual(3);
        expect((await slackDeliveries(filed.request_id))[0]?.status).toBe("pending");
      }
      const done = await consumeDeliveries([id], { env: SLACK, attempts: tries + 1 });
      expect(done.acked).toEqual([id]);
      expect((await slackDeliveries(filed.request_id))[0]?.status).toBe("delivered");
      const calls = await slackCalls(token);
      expect(calls.map((c) => c.status)).toEqual([...Array(tries).fill(status), 200]);
      expect(await postedMessages(filed.request_id)).toHaveLength(1);
    }
  });

  it("invalid_auth fails for good, logged without the token (nor in the attempt records)", async () => {
    const { tenant, token } = await workspace("invalid");
    const queue = recordingQueue();
    const filed = await file(queue, tenant);
    const [delivery] = await slackDeliveries(filed.request_id);
    const consumed = await consumeDeliveries([delivery?.id ?? 0], { env: SLACK });
    expect(consumed.acked).toEqual([delivery?.id]);
    const [row] = await slackDeliveries(filed.request_id);
    expect(row?.status).toBe("failed");
    expect(row?.last_error).toContain("invalid_auth");
    const lines = consumed.lines.join("\n");
    expect(lines).toContain("slack_delivery_failed");
    expect(lines).not.toContain(token);
    expect(lines).not.toContain("secrettoken");
    const attempts = (await testSql().query(
      "SELECT coalesce(error, '') || coalesce(response_excerpt, '') AS text FROM webhook_attempts WHERE delivery_id = $1",
      [delivery?.id],
    )) as { text: string }[];
    expect(attempts.length).toBeGreaterThan(0);
    for (const attempt of attempts) expect(attempt.text).not.toContain("secrettoken");
    expect(await postedMessages(filed.request_id)).toEqual([]);
  });

  it("a reminder (the cron's) posts a second message; the decision updates both; paused, nothing is sent", async () => {
    const { tenant, token } = await workspace("ok");
    const queue = recordingQueue();
    const filed = await file(queue, tenant, { expires_in_seconds: 1000 });
    await consumeDeliveries(queue.ids(), { env: SLACK });
    queue.clear();
    const ctx = createServiceContext({
      env: testEnv({ WEBHOOK_QUEUE: queue.binding }),
      log: createLogger("error"),
      metrics: new MetricsBuffer(),
      waitUntil: () => {},
      requestId: null,
    });
    expect((await runNotifications(ctx, new Date(Date.now() + 600_000))).reminders).toBe(1);
    const [reminder] = await slackDeliveries(filed.request_id, "reminder");
    expect(queue.ids()).toContain(reminder?.id);

    const pauseSwitch = (action: "pause" | "resume") =>
      call(`/api/v1/admin/webhooks/${action}`, {
        method: "POST",
        headers: { ...admin.headers, "Content-Type": "application/json" },
        body: JSON.stringify({ reason: "slack test" }),
      });
    expect((await pauseSwitch("pause")).status).toBe(200);
    try {
      await consumeDeliveries([reminder?.id ?? 0], { env: SLACK });
      expect((await slackDeliveries(filed.request_id, "reminder"))[0]?.status).toBe("pending");
      expect(await slackCalls(token)).toHaveLength(1);
    } finally {
      expect((await pauseSwitch("resume")).status).toBe(200);
    }
    await consumeDeliveries([reminder?.id ?? 0], { env: SLACK, attempts: 2 });
    expect((await slackCalls(token)).map((c) => c.method)).toEqual(["chat.postMessage", "chat.postMessage"]);
    const posted = await postedMessages(filed.request_id);
    expect(posted).toHaveLength(2);

    queue.clear();
    const res = await postJson(`${REQUESTS}/${filed.request_id}/approve`, { notes: "go" }, alice.headers, {
      WEBHOOK_QUEUE: queue.binding,
    });
    expect(res.status).toBe(200);
    const [decided] = await slackDeliveries(filed.request_id, "decided");
    await consumeDeliveries([decided?.id ?? 0], { env: SLACK });
    const updates = (await slackCalls(token)).filter((c) => c.method === "chat.update");
    expect(updates.map((c) => c.json?.ts).sort()).toEqual(posted.map((m) => m.ts).sort());
    expect((await slackDeliveries(filed.request_id, "decided"))[0]?.status).toBe("delivered");
  });
});
