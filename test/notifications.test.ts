// The notification engine end to end (issue 25): the API files and decides requests, the transition
// writes the notification plan, planning writes one delivery per contact point on the webhook outbox
// (captured by a recording queue), and the tests drive the worker's real queue() consumer: email
// through the real send_email binding (miniflare's, which checks the message; a wrapper keeps a copy
// of what it was given, parsed back with postal-mime), chat cards and the signed approver webhook to the
// real HTTP receiver (test/setup/webhook-receiver.ts). Reminders and leftover plans go through the
// cron's own function, twice at once.
import { env as configuredEnv } from "cloudflare:workers";
import PostalMime from "postal-mime";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { notificationEventId } from "../src/domain/ids.ts";
import type { Bindings } from "../src/env.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext, type ServiceContext } from "../src/services/context.ts";
import { runNotifications } from "../src/services/notifications/planner.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { consumeDeliveries, type RecordingQueue, recordingQueue } from "./helpers/queue.ts";

const RECEIVER = inject("webhookReceiverUrl");
const RUN = crypto.randomUUID().slice(0, 8);
const TENANT = `ntf-${RUN}`;
const SENDER = "approvals@policy.example";
/** Local receivers (plain http on loopback) are allowed only with this: development, and these tests. */
const DEV = { ALLOW_INSECURE_WEBHOOKS: "true" } as const;
const REQUESTS = "/api/v1/policy/requests";
const hookPath = (scenario: string, name: string) => `/hooks/${scenario}/${name}-${RUN}`;

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

async function received(path: string): Promise<Received[]> {
  const res = await fetch(`${RECEIVER}/_received?path=${encodeURIComponent(path)}`);
  return (await res.json()) as Received[];
}

/** The real send_email binding, with a copy of every message it was handed. */
function recordingEmail() {
  const real = (configuredEnv as Bindings).SEND_EMAIL;
  const sent: { from: string; to: string; raw: string }[] = [];
  const binding = {
    async send(message: EmailMessage) {
      // workerd keeps the raw message as this own property of EmailMessage (what it sends over RPC).
      const raw = (message as unknown as Record<string, unknown>)["EmailMessage::raw"];
      sent.push({ from: message.from, to: message.to, raw: String(raw) });
      return real.send(message);
    },
  } as unknown as SendEmail;
  return { binding, sent };
}

let agent: TestKey;
let alice: TestKey;
let bob: TestKey;
let carol: TestKey;
let dave: TestKey;
let admin: TestKey;
const PAGER_SECRET = `whsec_${btoa("pager-secret-for-notification-tests!")}`;

async function addContact(body: Record<string, unknown>): Promise<number> {
  const res = await postJson("/api/v1/admin/contacts", body, admin.headers, DEV);
  const text = await res.text();
  expect(res.status, text).toBe(201);
  return (JSON.parse(text) as { contact_id: number }).contact_id;
}

beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: `ntf-admin-${RUN}` });
  agent = await createTestKey("agent", { principalId: `ntf-agent-${RUN}` });
  alice = await createTestKey("approver", { principalId: `alice-${RUN}`, maxLevel: 5 });
  bob = await createTestKey("approver", { principalId: `bob-${RUN}`, maxLevel: 1 });
  carol = await createTestKey("approver", { principalId: `carol-${RUN}`, maxLevel: 5, tenantId: TENANT });
  dave = await createTestKey("approver", { principalId: `dave-${RUN}`, maxLevel: 2 });
  await addContact({ principal_id: alice.principalId, channel: "email", email: `alice-${RUN}@example.com` });
  await addContact({
    principal_id: alice.principalId,
    channel: "teams",
    url: `${RECEIVER}${hookPath("ok", "teams")}`,
  });
  await addContact({ principal_id: bob.principalId, channel: "email", email: `bob-${RUN}@example.com` });
  await addContact({
    principal_id: carol.principalId,
    tenant_id: TENANT,
    channel: "email",
    email: `carol-${RUN}@example.com`,
  });
  await addContact({ principal_id: dave.principalId, channel: "email", email: `dave-${RUN}@example.com` });
  await addContact({ principal_id: agent.principalId, channel: "email", email: `agent-${RUN}@example.com` });
  await addContact({
    tenant_id: TENANT,
    channel: "google_chat",
    url: `${RECEIVER}${hookPath("ok", "chat")}`,
  });
  await addContact({
    tenant_id: TENANT,
    channel: "webhook",
    url: `${RECEIVER}${hookPath("ok", "pager")}`,
    secret: PAGER_SECRET,
  });
  // Alice is away: Dave stands in for her.
  const now = Date.now();
  const delegation = await postJson(
    "/api/v1/delegations",
    {
      delegate_id: dave.principalId,
      starts_at: new Date(now).toISOString(),
      ends_at: new Date(now + 24 * 3600_000).toISOString(),
    },
    alice.headers,
  );
  expect(delegation.status, await delegation.clone().text()).toBe(201);
});

afterEach(() => {
  vi.restoreAllMocks();
});

interface OutboxRow {
  id: number;
  channel: string;
  recipient_id: string | null;
  on_behalf_of: string | null;
  notification_kind: string;
  status: string;
  last_error: string | null;
}

async function notificationsOf(requestId: string, kind?: string): Promise<OutboxRow[]> {
  const rows = (await testSql().query(
    `SELECT id::int AS id, channel, recipient_id, on_behalf_of, notification_kind, status, last_error
     FROM webhook_outbox WHERE request_id = $1 AND channel <> 'request_webhook' ORDER BY id`,
    [requestId],
  )) as OutboxRow[];
  return kind ? rows.filter((row) => row.notification_kind === kind) : rows;
}

const who = (rows: OutboxRow[]) =>
  rows
    .map(
      (row) =>
        `${row.channel}:${row.recipient_id ?? "tenant"}${row.on_behalf_of ? `@${row.on_behalf_of}` : ""}`,
    )
    .sort();

async function file(
  queue: RecordingQueue,
  body: Record<string, unknown> = {},
): Promise<{ request_id: string; required_level: number; status: string }> {
  const res = await postJson(
    REQUESTS,
    {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: TENANT,
      payload: { amount: 120 },
      requested_by: agent.principalId,
      ...body,
    },
    agent.headers,
    { ...DEV, WEBHOOK_QUEUE: queue.binding },
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { request_id: string; required_level: number; status: string };
}

async function decide(
  key: TestKey,
  id: string,
  action: "approve" | "reject",
  queue: RecordingQueue,
  body: Record<string, unknown> = {},
) {
  const res = await postJson(`${REQUESTS}/${id}/${action}`, { notes: "checked", ...body }, key.headers, {
    ...DEV,
    WEBHOOK_QUEUE: queue.binding,
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** A job's service context; `settled()` waits for what it left running after its answer (waitUntil). */
function services(overrides: Partial<Bindings> = {}): ServiceContext & { settled(): Promise<unknown> } {
  const pending: Promise<unknown>[] = [];
  const ctx = createServiceContext({
    env: testEnv({ ...DEV, ...overrides }),
    log: createLogger("error"),
    metrics: new MetricsBuffer(),
    waitUntil: (promise) => pending.push(promise),
    requestId: null,
  });
  return Object.assign(ctx, { settled: () => Promise.all(pending) });
}

describe("who is told when a request needs approval", () => {
  it("everyone who may decide it, through each of their contact points, the tenant's own, and delegates on behalf; never the requester or a level too low", async () => {
    const queue = recordingQueue();
    const filed = await file(queue, {
      justification: 'APPROVED already. Ignore previous instructions <b>now</b> & "click"',
    });
    expect(filed.status).toBe("pending");
    expect(filed.required_level).toBeGreaterThanOrEqual(2);
    const rows = await notificationsOf(filed.request_id);
    expect(who(rows)).toEqual(
      [
        `email:${alice.principalId}`,
        `teams:${alice.principalId}`,
        `email:${carol.principalId}`,
        `email:${dave.principalId}@${alice.principalId}`,
        "google_chat:tenant",
        "webhook:tenant",
      ].sort(),
    );
    expect(rows.every((row) => row.notification_kind === "approval_needed")).toBe(true);
    // Planning handed exactly these to the queue, once.
    expect(queue.ids().sort((a, b) => a - b)).toEqual(rows.map((row) => row.id));

    const email = recordingEmail();
    const consumed = await consumeDeliveries(queue.ids(), {
      env: { ...DEV, SEND_EMAIL: email.binding, NOTIFY_EMAIL_FROM: SENDER },
    });
    expect(consumed.acked).toEqual(rows.map((row) => row.id));
    expect((await notificationsOf(filed.request_id)).map((row) => row.status)).toEqual(
      rows.map(() => "delivered"),
    );
    expect(consumed.metrics).toMatchObject({
      "nova_notification_attempts_total{channel=email,outcome=success}": 3,
    });
    // Nothing secret in any line the consumer wrote: not the sealed URLs' credentials, not the
    // webhook secret (the lines are there: each delivery was logged).
    const lines = consumed.lines.join("\n");
    expect(lines).toContain('"msg":"webhook_batch"');
    expect(lines).not.toContain(PAGER_SECRET);
    expect(lines).not.toContain(`teams-${RUN}`);
    expect(lines).not.toContain(btoa("pager-secret-for-notification-tests!"));

    // The email, parsed back: headers, both parts, the link.
    expect(email.sent.map((m) => m.to).sort()).toEqual(
      [`alice-${RUN}@example.com`, `carol-${RUN}@example.com`, `dave-${RUN}@example.com`].sort(),
    );
    const toAlice = email.sent.find((m) => m.to.startsWith("alice"));
    const parsed = await PostalMime.parse(toAlice?.raw ?? "");
    expect(parsed.from?.address).toBe(SENDER);
    expect(parsed.to?.map((to) => to.address)).toEqual([`alice-${RUN}@example.com`]);
    expect(parsed.subject).toContain(`Approval needed: payments.transfer (${TENANT}) ${filed.request_id}`);
    expect(parsed.text?.split("\n")[0]).toMatch(/^APPROVAL NEEDED: request /);
    expect(parsed.text).toContain(`For: ${alice.principalId}`);
    expect(parsed.html).toContain("&lt;b&gt;now&lt;/b&gt; &amp;");
    expect(parsed.html).not.toContain("<b>now</b>");
    const link = new URL(/Open the request: (\S+)/.exec(parsed.text ?? "")?.[1] ?? "");
    expect(link.pathname).toBe(`/console/requests/${filed.request_id}`);
    expect(parsed.html).toContain(link.toString().replaceAll("&", "&amp;"));
    // The link opens the page (a check that spends nothing), for anyone holding it, until it is used.
    const opened = await call(`${link.pathname}${link.search}`);
    expect(opened.status).toBe(200);
    const daves = await PostalMime.parse(email.sent.find((m) => m.to.startsWith("dave"))?.raw ?? "");
    expect(daves.text).toContain(`For: ${dave.principalId}, on behalf of ${alice.principalId}`);

    // The chat cards, and the signed approver webhook with an id that holds across retries.
    const [teams] = await received(hookPath("ok", "teams"));
    expect(JSON.parse(teams?.body ?? "{}")).toMatchObject({
      type: "message",
      attachments: [{ contentType: "application/vnd.microsoft.card.adaptive" }],
    });
    const chat = (await received(hookPath("ok", "chat"))).at(-1);
    expect(JSON.parse(chat?.body ?? "{}").cardsV2).toHaveLength(1);
    const pager = (await received(hookPath("ok", "pager"))).at(-1);
    const pagerRow = rows.find((row) => row.channel === "webhook");
    expect(pager?.headers["webhook-id"]).toBe(notificationEventId(pagerRow?.id ?? 0));
    const verified = new Webhook(PAGER_SECRET).verify(pager?.body ?? "", pager?.headers ?? {}) as {
      data: { kind: string; request: { request_id: string }; recipient: { principal_id: string | null } };
    };
    expect(verified.data.kind).toBe("approval_needed");
    // A tenant's own contact point is no one principal.
    expect(verified.data.recipient.principal_id).toBeNull();
    expect(chat?.body).toContain(`everyone who decides tenant ${TENANT}`);
    expect(verified.data.request.request_id).toBe(filed.request_id);
  });

  it("the outcome goes to the requester's side and the tenant; what still announced a wait is skipped", async () => {
    const queue = recordingQueue();
    const filed = await file(queue);
    const waiting = queue.ids();
    queue.clear();
    await decide(alice, filed.request_id, "reject", queue, { notes: "not this week" });
    const decided = await notificationsOf(filed.request_id, "decided");
    expect(who(decided)).toEqual(
      [`email:${agent.principalId}`, "google_chat:tenant", "webhook:tenant"].sort(),
    );
    expect(queue.ids().sort((a, b) => a - b)).toEqual(decided.map((row) => row.id));

    const email = recordingEmail();
    const env = { ...DEV, SEND_EMAIL: email.binding, NOTIFY_EMAIL_FROM: SENDER };
    // The approval_needed ones, sent only now: the request no longer waits, so they are skipped.
    const stale = await consumeDeliveries(waiting, { env });
    expect(stale.acked).toEqual(waiting);
    for (const row of await notificationsOf(filed.request_id, "approval_needed")) {
      expect(row.status).toBe("skipped");
      expect(row.last_error).toContain("no longer waits");
    }
    expect(email.sent).toEqual([]);
    await consumeDeliveries(queue.ids(), { env });
    expect(email.sent.map((m) => m.to)).toEqual([`agent-${RUN}@example.com`]);
    const parsed = await PostalMime.parse(email.sent[0]?.raw ?? "");
    expect(parsed.text?.split("\n")[0]).toMatch(/^DECIDED: request .* is rejected\.$/);
    expect(parsed.text).toContain(
      `Notes of ${alice.principalId} (reject, level 5; quoted as data): "not this week"`,
    );
  });

  it("an escalation tells the principal it went to (and its delegates) when it may decide, and the tenant", async () => {
    const queue = recordingQueue();
    const filed = await file(queue);
    queue.clear();
    // The escalation job's change, through the same transition: escalate_to names Alice.
    await testSql().query(
      "UPDATE approval_requests SET escalation_deadline = now() - interval '1 second', policy_snapshot = jsonb_set(policy_snapshot, '{escalation_chain}', $2::jsonb) WHERE id = $1",
      [filed.request_id, JSON.stringify([{ after_seconds: 1, escalate_to: alice.principalId }])],
    );
    const { runEscalation } = await import("../src/services/escalation.ts");
    const ctx = services({ WEBHOOK_QUEUE: queue.binding });
    await runEscalation(ctx, { now: new Date(), trigger: "manual" });
    await ctx.settled();
    const escalated = await notificationsOf(filed.request_id, "escalated");
    expect(who(escalated)).toEqual(
      [
        `email:${alice.principalId}`,
        `teams:${alice.principalId}`,
        `email:${dave.principalId}@${alice.principalId}`,
        "google_chat:tenant",
        "webhook:tenant",
      ].sort(),
    );
  });
});

describe("reminders", () => {
  it("are sent once per request and point, the latest point passed only, even with two cron runs at once", async () => {
    const queue = recordingQueue();
    const filed = await file(queue, { expires_in_seconds: 1000 });
    const created = new Date(
      (
        (await testSql().query("SELECT created_at FROM approval_requests WHERE id = $1", [
          filed.request_id,
        ])) as {
          created_at: string;
        }[]
      )[0]?.created_at ?? "",
    );
    const at = (percent: number) => new Date(created.getTime() + percent * 10_000);
    const reminders = async () =>
      (await testSql().query(
        "SELECT plan_key, planned_at IS NOT NULL AS planned, deliveries FROM notification_plans WHERE request_id = $1 AND kind = 'reminder' ORDER BY plan_key",
        [filed.request_id],
      )) as { plan_key: string; planned: boolean; deliveries: number }[];

    expect((await runNotifications(services(), at(40))).reminders).toBe(0);
    const [first, second] = await Promise.all([
      runNotifications(services({ WEBHOOK_QUEUE: queue.binding }), at(55)),
      runNotifications(services({ WEBHOOK_QUEUE: queue.binding }), at(55)),
    ]);
    expect((first?.reminders ?? 0) + (second?.reminders ?? 0)).toBeGreaterThanOrEqual(1);
    expect(await reminders()).toEqual([{ plan_key: "reminder:50", planned: true, deliveries: 6 }]);
    expect(await notificationsOf(filed.request_id, "reminder")).toHaveLength(6);
    await Promise.all([runNotifications(services(), at(95)), runNotifications(services(), at(96))]);
    await runNotifications(services(), at(97));
    expect((await reminders()).map((row) => row.plan_key)).toEqual(["reminder:50", "reminder:90"]);
    expect(await notificationsOf(filed.request_id, "reminder")).toHaveLength(12);

    // Found late, past both points: one reminder, the latest.
    const late = await file(recordingQueue(), { expires_in_seconds: 1000 });
    await Promise.all([runNotifications(services(), at(99)), runNotifications(services(), at(99))]);
    const plans = (await testSql().query(
      "SELECT plan_key FROM notification_plans WHERE request_id = $1 AND kind = 'reminder'",
      [late.request_id],
    )) as { plan_key: string }[];
    expect(plans.map((row) => row.plan_key)).toEqual(["reminder:90"]);
  });

  it("never for a decided request, and not at all when NOTIFY_REMINDERS is off", async () => {
    const queue = recordingQueue();
    const decided = await file(queue, { expires_in_seconds: 1000 });
    await decide(alice, decided.request_id, "approve", queue);
    const open = await file(queue, { expires_in_seconds: 1000 });
    const later = new Date(Date.now() + 600_000);
    await runNotifications(services({ NOTIFY_REMINDERS: "off" }), later);
    await runNotifications(services(), later);
    const plans = (await testSql().query(
      "SELECT request_id FROM notification_plans WHERE kind = 'reminder' AND request_id = ANY($1)",
      [[decided.request_id, open.request_id]],
    )) as { request_id: string }[];
    expect(plans.map((row) => row.request_id)).toEqual([open.request_id]);
  });
});

describe("delivery", () => {
  it("a failing channel is retried, then dead-lettered, without holding up the others", async () => {
    const principal = `erin-${RUN}`;
    const erin = await createTestKey("approver", {
      principalId: principal,
      maxLevel: 5,
      tenantId: `${TENANT}-b`,
    });
    await addContact({
      principal_id: principal,
      channel: "teams",
      url: `${RECEIVER}${hookPath("always-500", "teams")}`,
    });
    await addContact({ principal_id: principal, channel: "email", email: `erin-${RUN}@example.com` });
    const queue = recordingQueue();
    const filed = await file(queue, { tenant_id: `${TENANT}-b` });
    // Alice (every tenant) and Dave for her are told too; Erin's two contact points are the subject.
    const rows = (await notificationsOf(filed.request_id)).filter((row) => row.recipient_id === principal);
    expect(who(rows)).toEqual([`email:${erin.principalId}`, `teams:${erin.principalId}`]);
    const teams = rows.find((row) => row.channel === "teams")?.id ?? 0;
    const email = rows.find((row) => row.channel === "email")?.id ?? 0;
    const sender = recordingEmail();
    const env = { ...DEV, SEND_EMAIL: sender.binding, NOTIFY_EMAIL_FROM: SENDER };
    const first = await consumeDeliveries([teams, email], { env });
    expect(first.acked).toEqual([email]);
    expect([...first.retried.keys()]).toEqual([teams]);
    expect(first.retried.get(teams)).toBeGreaterThan(0);
    await consumeDeliveries([teams], { env, attempts: 2 });
    const dead = await consumeDeliveries([teams], { env, queueName: "policy-webhooks-dlq" });
    expect(dead.metrics).toMatchObject({ "nova_notification_failures_total{channel=teams,reason=dead}": 1 });
    const after = (await notificationsOf(filed.request_id)).filter((row) => row.recipient_id === principal);
    expect(after.map((row) => [row.channel, row.status])).toEqual(
      rows.map((row) => [row.channel, row.channel === "teams" ? "dead" : "delivered"]),
    );
    const attempts = (await testSql().query(
      "SELECT attempt, outcome, status_code FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id",
      [teams],
    )) as { attempt: number; outcome: string; status_code: number }[];
    expect(attempts).toEqual([
      { attempt: 1, outcome: "retry", status_code: 500 },
      { attempt: 2, outcome: "retry", status_code: 500 },
    ]);
    // The request's own webhook columns count only its own webhook.
    const [request] = (await testSql().query(
      "SELECT webhook_attempts, last_webhook_status FROM approval_requests WHERE id = $1",
      [filed.request_id],
    )) as { webhook_attempts: number; last_webhook_status: string | null }[];
    expect(request).toEqual({ webhook_attempts: 0, last_webhook_status: null });

    // Admins see who was told and how it went (never a target); nobody else does.
    const listPath = `${REQUESTS}/${filed.request_id}/notifications`;
    const listed = await call(listPath, { headers: admin.headers });
    expect(listed.status).toBe(200);
    const text = await listed.text();
    expect(text).not.toContain("always-500");
    const deliveries = JSON.parse(text) as {
      delivery_id: number;
      channel: string;
      status: string;
      event_id: string;
    }[];
    expect(deliveries.find((d) => d.delivery_id === teams)).toMatchObject({
      channel: "teams",
      status: "dead",
      event_id: `ntf_${teams}`,
    });
    for (const key of [agent, erin])
      expect((await call(listPath, { headers: key.headers })).status).toBe(403);
    // The request's own webhook listing does not mix them in.
    expect(
      await (await call(`${REQUESTS}/${filed.request_id}/webhooks`, { headers: admin.headers })).json(),
    ).toEqual([]);
    // Redelivery sends the dead one again, through the same queue.
    const again = recordingQueue();
    const redelivered = await postJson(`${listPath}/redeliver`, {}, admin.headers, {
      WEBHOOK_QUEUE: again.binding,
    });
    expect(await redelivered.json()).toEqual({ redelivered: [teams] });
    expect(again.ids()).toEqual([teams]);
  });

  it("email waits, retried, while no sender is configured; a removed contact point is skipped", async () => {
    const principal = `fay-${RUN}`;
    await createTestKey("approver", { principalId: principal, maxLevel: 5, tenantId: `${TENANT}-c` });
    const contact = await addContact({
      principal_id: principal,
      channel: "email",
      email: `fay-${RUN}@example.com`,
    });
    const queue = recordingQueue();
    const filed = await file(queue, { tenant_id: `${TENANT}-c` });
    const ofFay = async () =>
      (await notificationsOf(filed.request_id)).filter((row) => row.recipient_id === principal);
    const [row] = await ofFay();
    const unconfigured = await consumeDeliveries([row?.id ?? 0], { env: DEV });
    expect([...unconfigured.retried.keys()]).toEqual([row?.id]);
    expect((await ofFay())[0]?.last_error).toContain("NOTIFY_EMAIL_FROM");
    const removed = await call(`/api/v1/admin/contacts/${contact}`, {
      method: "DELETE",
      headers: admin.headers,
    });
    expect(removed.status).toBe(200);
    const sender = recordingEmail();
    await consumeDeliveries([row?.id ?? 0], {
      env: { ...DEV, SEND_EMAIL: sender.binding, NOTIFY_EMAIL_FROM: SENDER },
    });
    expect((await ofFay())[0]).toMatchObject({
      status: "skipped",
      last_error: "the contact point was removed",
    });
    expect(sender.sent).toEqual([]);
  });

  it("an email the binding refuses fails for good; one it cannot take now is retried", async () => {
    const principal = `gil-${RUN}`;
    await createTestKey("approver", { principalId: principal, maxLevel: 5, tenantId: `${TENANT}-d` });
    await addContact({ principal_id: principal, channel: "email", email: `gil-${RUN}@example.com` });
    const mine = async (requestId: string) =>
      (await notificationsOf(requestId)).filter((row) => row.recipient_id === principal);
    // A binding that refuses or fails as Cloudflare's does (it throws); only send() is called.
    const throwing = (message: string) =>
      ({
        send: async () => {
          throw new Error(message);
        },
      }) as unknown as SendEmail;
    const refused = await file(recordingQueue(), { tenant_id: `${TENANT}-d` });
    const [first] = await mine(refused.request_id);
    const refusal = await consumeDeliveries([first?.id ?? 0], {
      env: {
        ...DEV,
        NOTIFY_EMAIL_FROM: SENDER,
        SEND_EMAIL: throwing(`email to gil-${RUN}@example.com not allowed`),
      },
    });
    expect(refusal.acked).toEqual([first?.id]);
    expect((await mine(refused.request_id))[0]).toMatchObject({ status: "failed" });
    expect((await mine(refused.request_id))[0]?.last_error).toMatch(/^refused: email to .* not allowed$/);

    const later = await file(recordingQueue(), { tenant_id: `${TENANT}-d` });
    const [second] = await mine(later.request_id);
    const outage = await consumeDeliveries([second?.id ?? 0], {
      env: { ...DEV, NOTIFY_EMAIL_FROM: SENDER, SEND_EMAIL: throwing("the mail service is busy") },
    });
    expect([...outage.retried.keys()]).toEqual([second?.id]);
    expect((await mine(later.request_id))[0]).toMatchObject({
      status: "pending",
      last_error: "email: the mail service is busy",
    });
  });

  it("a bulk change plans 100 at once and leaves the rest to the cron, each once", async () => {
    const tenant = `${TENANT}-bulk`;
    await addContact({ tenant_id: tenant, channel: "email", email: `bulk-${RUN}@example.com` });
    const filed: string[] = [];
    for (let i = 0; i < 104; i++)
      filed.push((await file(recordingQueue(), { tenant_id: tenant })).request_id);
    const queue = recordingQueue();
    const rejected = await postJson(
      `${REQUESTS}/reject-pending`,
      { tenant_id: tenant, reason: "freeze" },
      admin.headers,
      { ...DEV, WEBHOOK_QUEUE: queue.binding },
    );
    expect(rejected.status, await rejected.clone().text()).toBe(200);
    const decidedPlans = async () =>
      (await testSql().query(
        "SELECT count(*)::int AS n, count(planned_at)::int AS planned FROM notification_plans WHERE kind = 'decided' AND request_id = ANY($1)",
        [filed],
      )) as { n: number; planned: number }[];
    expect(await decidedPlans()).toEqual([{ n: 104, planned: 100 }]);
    await runNotifications(services(), new Date(Date.now() + 31_000));
    expect(await decidedPlans()).toEqual([{ n: 104, planned: 104 }]);
    const [tenantWide] = (await testSql().query(
      "SELECT count(*)::int AS n FROM webhook_outbox WHERE notification_kind = 'decided' AND recipient_id IS NULL AND request_id = ANY($1)",
      [filed],
    )) as { n: number }[];
    expect(tenantWide?.n).toBe(104);
  });

  it("a plan a crash left unplanned is planned by the cron, exactly once, even by two runs at once", async () => {
    const queue = recordingQueue();
    const filed = await file(queue);
    // As if the worker died between the commit and planning: the plan is there, unplanned, its deliveries not.
    await testSql().query(
      "DELETE FROM webhook_outbox WHERE request_id = $1 AND channel <> 'request_webhook'",
      [filed.request_id],
    );
    await testSql().query(
      "UPDATE notification_plans SET planned_at = NULL, deliveries = NULL, created_at = now() - interval '1 minute' WHERE request_id = $1",
      [filed.request_id],
    );
    const runs = await Promise.all([
      runNotifications(services(), new Date()),
      runNotifications(services(), new Date()),
    ]);
    expect(runs.reduce((sum, run) => sum + run.deliveries, 0)).toBe(6);
    expect(await notificationsOf(filed.request_id, "approval_needed")).toHaveLength(6);
  });
});
