// Webhook delivery end to end: the API files and decides requests (the producer), a recording queue
// captures exactly what was enqueued, and the tests drive the worker's real queue() consumer (and the
// cron's sweep through scheduled()) against a real HTTP receiver on loopback, started by the global
// setup (test/setup/webhook-receiver.ts), whose path chooses how it answers. Signatures are checked
// with an independent verifier (the `standardwebhooks` package) and by recomputing the legacy header.
//
// The queue's redelivery is simulated by calling queue() again with `attempts` incremented, and the
// dead-letter queue by calling it with the DLQ's name. The sweep takes every unsent delivery of the
// database, so every test leaves its deliveries settled or handed to a queue.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { webhookEventId } from "../src/domain/ids.ts";
import type { Bindings } from "../src/env.ts";
import worker from "../src/index.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { consumeDeliveries, failingQueue, type RecordingQueue, recordingQueue } from "./helpers/queue.ts";

const REQUESTS = "/api/v1/policy/requests";
const RECEIVER = inject("webhookReceiverUrl");
/** Keeps this run's receiver paths apart from any earlier run against the same receiver (watch mode). */
const RUN = crypto.randomUUID().slice(0, 8);
const REQUEST_SECRET = "a-request's-own-webhook-secret-0123";
const _DELIVERY_QUEUE = "policy-webhooks";
const DEAD_LETTER_QUEUE = "policy-webhooks-dlq";
/** Plain http to 127.0.0.1 is allowed only with this (development, and these tests). */
const INSECURE = { ALLOW_INSECURE_WEBHOOKS: "true" } as const;

/** What the receiver recorded for one request (test/setup/webhook-receiver.ts). */
interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
  status: number;
}

/** The event body a receiver gets. */
interface EventBody {
  event: string;
  event_id: string;
  sequence: number;
  request_id: string;
  correlation_id: string;
  status: string;
  tenant_id: string;
  actor: string | null;
  reason: string | null;
  decision: { approver_id: string; level: number; action: string; notes: string | null } | null;
}

let agent: TestKey;
let approver: TestKey;
let admin: TestKey;

beforeAll(async () => {
  agent = await createTestKey("agent", { principalId: "hook-bot" });
  approver = await createTestKey("approver", { principalId: "hook-approver", maxLevel: 3 });
  admin = await createTestKey("admin", { principalId: "hook-admin" });
});

const hookPath = (scenario: string, name: string) => `/hooks/${scenario}/${name}-${RUN}`;
const hookUrl = (scenario: string, name: string) => `${RECEIVER}${hookPath(scenario, name)}`;

async function received(path: string): Promise<Received[]> {
  const res = await fetch(`${RECEIVER}/_received?path=${encodeURIComponent(path)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Received[];
}

interface Filed {
  request_id: string;
  correlation_id: string;
  /** The created event's delivery id (what the producer enqueued); 0 when the caller passed the queue. */
  created: number;
}

/** Files a request through the API with `webhook_url`, the producer's queue being `queue`. */
async function fileRequest(
  url: string,
  options: { secret?: string; tenant?: string; queue?: RecordingQueue } = {},
): Promise<Filed> {
  const queue = options.queue ?? recordingQueue();
  const res = await call(
    REQUESTS,
    {
      method: "POST",
      headers: { ...agent.headers, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: options.tenant ?? "hooks-tenant",
        payload: { amount: 120 },
        requested_by: agent.principalId,
        webhook_url: url,
        ...(options.secret ? { webhook_secret: options.secret } : {}),
      }),
    },
    { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
  );
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as { request_id: string; correlation_id: string; status: string };
  expect(body.status).toBe("pending");
  if (options.queue) return { ...body, created: 0 };
  const [created, ...rest] = queue.ids();
  expect(rest).toEqual([]);
  if (created === undefined) throw new Error("the create enqueued nothing");
  return { ...body, created };
}

async function approve(id: string, notes: string, queue: RecordingQueue) {
  const res = await call(
    `${REQUESTS}/${id}/approve`,
    {
      method: "POST",
      headers: { ...approver.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ notes }),
    },
    { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
  );
  expect(res.status, await res.clone().text()).toBe(200);
}

/** The real consumer on one batch of `ids` (consumeDeliveries), with this file's insecure-hooks env. */
function consume(
  ids: number[],
  options: { attempts?: number; queueName?: string; env?: Partial<Bindings> } = {},
) {
  return consumeDeliveries(ids, { ...options, env: { ...INSECURE, ...options.env } });
}

/** Runs the cron once with the job clock at `clock` (ms); the sweep sends to `queue`. */
async function cron(clock: number, queue: RecordingQueue) {
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron: "* * * * *", scheduledTime: clock }),
    testEnv({ ...INSECURE, WEBHOOK_QUEUE: queue.binding }),
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

interface OutboxRow {
  id: number;
  event: string;
  status: string;
  attempts: number;
  enqueued: boolean;
  delivered: boolean;
  last_error: string | null;
}

async function outbox(requestId: string): Promise<OutboxRow[]> {
  return (await testSql()`SELECT id::int AS id, event, status, attempts::int AS attempts,
      enqueued_at IS NOT NULL AS enqueued, delivered_at IS NOT NULL AS delivered, last_error
    FROM webhook_outbox WHERE request_id = ${requestId} ORDER BY id`) as OutboxRow[];
}

interface AttemptRow {
  attempt: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

async function attempts(deliveryId: number): Promise<AttemptRow[]> {
  return (await testSql()`SELECT attempt::int AS attempt, outcome, status_code::int AS status_code, error,
      duration_ms::int AS duration_ms
    FROM webhook_attempts WHERE delivery_id = ${deliveryId} ORDER BY id`) as AttemptRow[];
}

async function requestColumns(requestId: string) {
  const [row] = (await testSql()`SELECT webhook_attempts::int AS webhook_attempts, last_webhook_status,
      last_webhook_at IS NOT NULL AS has_last_webhook_at
    FROM approval_requests WHERE id = ${requestId}`) as {
    webhook_attempts: number;
    last_webhook_status: string | null;
    has_last_webhook_at: boolean;
  }[];
  if (!row) throw new Error(`no request ${requestId}`);
  return row;
}

const outcomes = (rows: AttemptRow[]) => rows.map((row) => [row.attempt, row.outcome, row.status_code]);

async function hmacHex(key: Uint8Array<ArrayBuffer>, text: string): Promise<string> {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", imported, new TextEncoder().encode(text)));
  return [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The service signing keys from the test bindings: version → whsec_ secret (current first). */
function serviceSecrets(): [string, string][] {
  return String(testEnv().WEBHOOK_SIGNING_SECRETS)
    .split(",")
    .map((entry) => {
      const colon = entry.indexOf(":");
      return [entry.slice(0, colon), entry.slice(colon + 1)];
    });
}

const whsecBytes = (secret: string) =>
  Uint8Array.from(atob(secret.slice("whsec_".length)), (char) => char.charCodeAt(0));

/** A tenant's signing key as docs/SECURITY.md defines it: HKDF-SHA256(service key, salt, "tenant:<id>"). */
async function tenantKey(
  serviceKey: Uint8Array<ArrayBuffer>,
  tenantId: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const base = await crypto.subtle.importKey("raw", serviceKey, "HKDF", false, ["deriveBits"]);
  const encode = (text: string) => new TextEncoder().encode(text);
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: encode("policy-api/webhook-signing/tenant-key/v1"),
      info: encode(`tenant:${tenantId}`),
    },
    base,
    256,
  );
  return new Uint8Array(bits);
}

describe("a delivered event", () => {
  it("reaches the receiver signed with the request's own secret, verifiably, and is recorded", async () => {
    const path = hookPath("ok", "signed");
    const filed = await fileRequest(hookUrl("ok", "signed"), { secret: REQUEST_SECRET });
    const decisions = recordingQueue();
    await approve(filed.request_id, "fine by me", decisions);
    const [approvedId, ...more] = decisions.ids();
    expect(more).toEqual([]);
    if (approvedId === undefined) throw new Error("the approval enqueued nothing");
    expect(approvedId).toBeGreaterThan(filed.created);
    // Both were marked as handed to the queue.
    expect((await outbox(filed.request_id)).map((row) => [row.id, row.enqueued])).toEqual([
      [filed.created, true],
      [approvedId, true],
    ]);

    for (const id of [filed.created, approvedId]) {
      const consumed = await consume([id]);
      expect(consumed.acked).toEqual([id]);
      expect(consumed.metrics).toEqual({ "nova_webhook_attempts_total{outcome=success}": 1 });
    }

    const got = await received(path);
    expect(got).toHaveLength(2);
    const bodies = got.map((entry) => JSON.parse(entry.body) as EventBody);
    // Per request, from 1: no other request's events are counted (test/webhook-identity.test.ts).
    expect(bodies.map((body) => body.sequence)).toEqual([1, 2]);
    expect(bodies[0]).toMatchObject({
      event: "approval_request_created",
      event_id: webhookEventId(filed.request_id, 1),
      request_id: filed.request_id,
      correlation_id: filed.correlation_id,
      status: "pending",
      decision: null,
    });
    expect(bodies[1]).toMatchObject({
      event: "approval_request_approved",
      event_id: webhookEventId(filed.request_id, 2),
      request_id: filed.request_id,
      correlation_id: filed.correlation_id,
      status: "approved",
      decision: { approver_id: approver.principalId, level: 3, action: "approve", notes: "fine by me" },
    });

    const verifier = new Webhook(REQUEST_SECRET, { format: "raw" });
    for (const [index, entry] of got.entries()) {
      const body = bodies[index] as EventBody;
      expect(entry.method).toBe("POST");
      expect(entry.headers["content-type"]).toBe("application/json");
      expect(entry.headers["webhook-id"]).toBe(body.event_id);
      expect(Math.abs(Number(entry.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
      // The independent verifier accepts it, and gives back the body.
      expect(verifier.verify(entry.body, entry.headers)).toEqual(body);
      // The legacy header: HMAC-SHA256 of the raw body with the request's secret, hex.
      expect(entry.headers["x-webhook-key-version"]).toBe("request");
      expect(entry.headers["x-webhook-signature"]).toBe(
        `sha256=${await hmacHex(Uint8Array.from(new TextEncoder().encode(REQUEST_SECRET)), entry.body)}`,
      );
      // And neither accepts a changed body or another secret.
      expect(() => verifier.verify(entry.body.replace("approval", "Approval"), entry.headers)).toThrow();
      expect(() =>
        new Webhook("another-secret-entirely-0123", { format: "raw" }).verify(entry.body, entry.headers),
      ).toThrow();
    }

    expect(await outbox(filed.request_id)).toEqual([
      expect.objectContaining({ id: filed.created, status: "delivered", attempts: 1, delivered: true }),
      expect.objectContaining({ id: approvedId, status: "delivered", attempts: 1, delivered: true }),
    ]);
    for (const id of [filed.created, approvedId]) {
      const [attempt, ...others] = await attempts(id);
      expect(others).toEqual([]);
      expect(attempt).toMatchObject({ attempt: 1, outcome: "success", status_code: 200, error: null });
      expect(attempt?.duration_ms).toBeGreaterThanOrEqual(0);
      expect(attempt?.duration_ms).toBeLessThan(10_000);
    }
    expect(await requestColumns(filed.request_id)).toEqual({
      webhook_attempts: 2,
      last_webhook_status: "success",
      has_last_webhook_at: true,
    });

    // The API shows the deliveries with their attempts, and the request its M5 columns.
    const res = await call(`${REQUESTS}/${filed.request_id}/webhooks`, { headers: admin.headers });
    expect(res.status).toBe(200);
    const deliveries = (await res.json()) as {
      delivery_id: number;
      event_id: string;
      event: string;
      status: string;
      attempts: number;
      delivered_at: string | null;
      attempt_log: { attempt: number; outcome: string; status_code: number | null }[];
    }[];
    expect(
      deliveries.map((d) => [
        d.delivery_id,
        d.event_id,
        d.event,
        d.status,
        d.attempts,
        d.delivered_at !== null,
      ]),
    ).toEqual([
      [filed.created, webhookEventId(filed.request_id, 1), "approval_request_created", "delivered", 1, true],
      [approvedId, webhookEventId(filed.request_id, 2), "approval_request_approved", "delivered", 1, true],
    ]);
    for (const delivery of deliveries)
      expect(delivery.attempt_log).toEqual([
        expect.objectContaining({ attempt: 1, outcome: "success", status_code: 200, error: null }),
      ]);
    const read = await call(`${REQUESTS}/${filed.request_id}`, { headers: admin.headers });
    expect(await read.json()).toMatchObject({ webhook_attempts: 2, last_webhook_status: "success" });
  });

  it("without a secret of its own, is signed with its tenant's keys: derived from the current service key and the one in its grace period", async () => {
    const path = hookPath("ok", "service-keys");
    const filed = await fileRequest(hookUrl("ok", "service-keys"));
    expect((await consume([filed.created])).acked).toEqual([filed.created]);

    const [entry, ...more] = await received(path);
    expect(more).toEqual([]);
    if (!entry) throw new Error("nothing received");
    const [[currentVersion, current], [graceVersion, grace]] = serviceSecrets() as [
      [string, string],
      [string, string],
    ];
    expect([currentVersion, graceVersion]).toEqual(["2", "1"]);
    // The tenant's key of each version: HKDF-SHA256 of the service key, the tenant id as info
    // (recomputed here from the documented formula, not by the service's code).
    const tenantCurrent = await tenantKey(whsecBytes(current), "hooks-tenant");
    const tenantGrace = await tenantKey(whsecBytes(grace), "hooks-tenant");
    expect(entry.headers["x-webhook-key-version"]).toBe("2");
    expect(entry.headers["x-webhook-signature"]).toBe(`sha256=${await hmacHex(tenantCurrent, entry.body)}`);
    // One Standard Webhooks signature per key: a receiver holding either of its tenant's keys verifies.
    expect(entry.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    const body = JSON.parse(entry.body) as EventBody;
    for (const key of [tenantCurrent, tenantGrace])
      expect(new Webhook(key, { format: "raw" }).verify(entry.body, entry.headers)).toEqual(body);
    // The service keys themselves verify nothing (test/webhook-identity.test.ts: nor another tenant's).
    for (const secret of [current, grace])
      expect(() => new Webhook(secret).verify(entry.body, entry.headers)).toThrow();
  });

  it("refuses a non-ASCII webhook_secret, so every Standard Webhooks library derives the same key bytes", async () => {
    const res = await call(
      "/api/v1/policy/requests",
      {
        method: "POST",
        headers: { ...agent.headers, "Content-Type": "application/json" },
        body: JSON.stringify({
          policy_type: "cost",
          skill_id: "a.b",
          tenant_id: "wh-ascii",
          requested_by: agent.principalId,
          webhook_url: hookUrl("ok", "utf8-secret"),
          webhook_secret: "clé-secrète-du-webhook-ü-0123",
        }),
      },
      { ALLOW_INSECURE_WEBHOOKS: "true" },
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorEnvelope).error.details).toMatchObject({
      issues: [{ path: "webhook_secret", message: "use printable ASCII characters (no spaces)" }],
    });
  });

  it("records how long the receiver took", async () => {
    const filed = await fileRequest(hookUrl("slow-300", "slow"));
    expect((await consume([filed.created])).acked).toEqual([filed.created]);
    const [attempt] = await attempts(filed.created);
    expect(attempt).toMatchObject({ outcome: "success", status_code: 200 });
    expect(attempt?.duration_ms).toBeGreaterThanOrEqual(290);
  });
});

describe("a receiver that fails", () => {
  it("then recovers: retried with growing backoff, every attempt counted, finally success", async () => {
    const path = hookPath("fail-then-ok-2", "recovers");
    const filed = await fileRequest(hookUrl("fail-then-ok-2", "recovers"));
    const id = filed.created;

    const first = await consume([id], { attempts: 1 });
    expect(first.acked).toEqual([]);
    // Backoff: 10 s doubling per attempt, with jitter between half and all of it.
    expect(first.retried.get(id)).toBeGreaterThanOrEqual(5);
    expect(first.retried.get(id)).toBeLessThanOrEqual(10);
    expect(first.metrics).toEqual({ "nova_webhook_attempts_total{outcome=retry}": 1 });
    expect(await requestColumns(filed.request_id)).toEqual({
      webhook_attempts: 1,
      last_webhook_status: "http_500",
      has_last_webhook_at: true,
    });

    const second = await consume([id], { attempts: 2 });
    expect(second.retried.get(id)).toBeGreaterThanOrEqual(10);
    expect(second.retried.get(id)).toBeLessThanOrEqual(20);

    const third = await consume([id], { attempts: 3 });
    expect(third.acked).toEqual([id]);
    expect(third.retried.size).toBe(0);

    expect(outcomes(await attempts(id))).toEqual([
      [1, "retry", 500],
      [2, "retry", 500],
      [3, "success", 200],
    ]);
    expect(await outbox(filed.request_id)).toEqual([
      expect.objectContaining({ id, status: "delivered", attempts: 3, last_error: null }),
    ]);
    expect(await requestColumns(filed.request_id)).toEqual({
      webhook_attempts: 3,
      last_webhook_status: "success",
      has_last_webhook_at: true,
    });
    // The same event every time: same id, same body.
    const got = await received(path);
    expect(got.map((entry) => entry.status)).toEqual([500, 500, 200]);
    expect(new Set(got.map((entry) => entry.headers["webhook-id"]))).toEqual(
      new Set([webhookEventId(filed.request_id, 1)]),
    );
    expect(new Set(got.map((entry) => entry.body)).size).toBe(1);
  });

  it("with 429 and Retry-After is retried no sooner than asked", async () => {
    const filed = await fileRequest(hookUrl("429", "busy"));
    const consumed = await consume([filed.created]);
    expect(consumed.retried.get(filed.created)).toBeGreaterThanOrEqual(120);
    expect(consumed.retried.get(filed.created)).toBeLessThanOrEqual(12 * 3600);
    expect(outcomes(await attempts(filed.created))).toEqual([[1, "retry", 429]]);
    expect((await requestColumns(filed.request_id)).last_webhook_status).toBe("http_429");
    // Settled so the sweep in later tests does not see it.
    await testSql()`UPDATE webhook_outbox SET status = 'failed' WHERE id = ${filed.created}`;
  });

  // workerd prints "uncaught exception ... Network connection lost" for this one: its own fetch
  // internals, not the consumer (a bare fetch to the same path prints it too).
  it("that drops the connection is retried as a network error", async () => {
    const filed = await fileRequest(hookUrl("drop", "hangs-up"));
    const consumed = await consume([filed.created]);
    expect(consumed.retried.has(filed.created)).toBe(true);
    const [attempt] = await attempts(filed.created);
    expect(attempt).toMatchObject({ attempt: 1, outcome: "retry", status_code: null });
    expect(attempt?.error).toMatch(/^network error: /);
    expect(await requestColumns(filed.request_id)).toMatchObject({
      webhook_attempts: 1,
      last_webhook_status: "network_error",
    });
    await testSql()`UPDATE webhook_outbox SET status = 'failed' WHERE id = ${filed.created}`;
  });

  it("and never recovers is dead-lettered, counted, listed by the runbook query, and can be redelivered", async () => {
    const filed = await fileRequest(hookUrl("always-500", "down"));
    const id = filed.created;
    let previousCeiling = 0;
    for (const attempt of [1, 2, 3]) {
      const consumed = await consume([id], { attempts: attempt });
      const delay = consumed.retried.get(id) ?? -1;
      const ceiling = 10 * 2 ** (attempt - 1);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
      expect(ceiling).toBeGreaterThan(previousCeiling);
      previousCeiling = ceiling;
    }
    expect((await outbox(filed.request_id))[0]).toMatchObject({ status: "pending", last_error: "http_500" });

    // The queue gives up: the message lands on the dead-letter queue.
    const dead = await consume([id], { queueName: DEAD_LETTER_QUEUE });
    expect(dead.acked).toEqual([id]);
    expect(dead.metrics).toEqual({ "nova_webhook_failures_total{reason=dead}": 1 });
    expect((await outbox(filed.request_id))[0]).toMatchObject({ status: "dead", attempts: 3 });
    // A duplicate dead letter changes nothing and is not counted twice.
    expect(await consume([id], { queueName: DEAD_LETTER_QUEUE })).toMatchObject({ acked: [id], metrics: {} });

    // The runbook's query for requests whose webhooks are failing.
    const failing = (await testSql()`SELECT id FROM approval_requests
      WHERE webhook_attempts > 0 AND last_webhook_status != 'success'`) as { id: string }[];
    expect(failing.map((row) => row.id)).toContain(filed.request_id);
    expect(await requestColumns(filed.request_id)).toEqual({
      webhook_attempts: 3,
      last_webhook_status: "http_500",
      has_last_webhook_at: true,
    });

    // Redelivery is for admins.
    const queue = recordingQueue();
    const redeliverPath = `${REQUESTS}/${filed.request_id}/webhooks/redeliver`;
    const denied = await call(redeliverPath, { method: "POST", headers: approver.headers }, INSECURE);
    expect(denied.status).toBe(403);

    // The customer fixes their endpoint; an operator redelivers.
    await testSql()`UPDATE approval_requests SET webhook_url = ${hookUrl("ok", "fixed")}
      WHERE id = ${filed.request_id}`;
    const res = await call(
      redeliverPath,
      { method: "POST", headers: admin.headers },
      { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ redelivered: [id] });
    expect(queue.ids()).toEqual([id]);
    expect((await outbox(filed.request_id))[0]).toMatchObject({ status: "pending", last_error: null });

    expect((await consume([id], { attempts: 1 })).acked).toEqual([id]);
    expect((await received(hookPath("ok", "fixed"))).map((entry) => entry.headers["webhook-id"])).toEqual([
      webhookEventId(filed.request_id, 1),
    ]);
    expect((await outbox(filed.request_id))[0]).toMatchObject({ status: "delivered", attempts: 4 });
    expect(outcomes(await attempts(id))).toEqual([
      [1, "retry", 500],
      [2, "retry", 500],
      [3, "retry", 500],
      [4, "success", 200],
    ]);
    expect(await requestColumns(filed.request_id)).toMatchObject({
      webhook_attempts: 4,
      last_webhook_status: "success",
    });
    const after = (await testSql()`SELECT id FROM approval_requests
      WHERE webhook_attempts > 0 AND last_webhook_status != 'success'`) as { id: string }[];
    expect(after.map((row) => row.id)).not.toContain(filed.request_id);

    // Nothing failed any more: nothing to redeliver.
    const again = await call(
      redeliverPath,
      { method: "POST", headers: admin.headers },
      { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
    );
    expect(await again.json()).toEqual({ redelivered: [] });
    expect(queue.ids()).toEqual([id]);
  });

  it("with 404 fails permanently: acknowledged, not retried", async () => {
    const path = hookPath("404", "gone");
    const filed = await fileRequest(hookUrl("404", "gone"));
    const consumed = await consume([filed.created]);
    expect(consumed.acked).toEqual([filed.created]);
    expect(consumed.retried.size).toBe(0);
    expect(consumed.metrics).toEqual({
      "nova_webhook_attempts_total{outcome=failed}": 1,
      "nova_webhook_failures_total{reason=rejected}": 1,
    });
    expect(await outbox(filed.request_id)).toEqual([
      expect.objectContaining({ status: "failed", attempts: 1, last_error: "http_404", delivered: false }),
    ]);
    expect(outcomes(await attempts(filed.created))).toEqual([[1, "failed", 404]]);
    expect(await received(path)).toHaveLength(1);
    expect((await requestColumns(filed.request_id)).last_webhook_status).toBe("http_404");
  });

  it("with a redirect fails permanently, and the redirect is not followed", async () => {
    const filed = await fileRequest(hookUrl("redirect", "moved"));
    const consumed = await consume([filed.created]);
    expect(consumed.acked).toEqual([filed.created]);
    expect(await outbox(filed.request_id)).toEqual([
      expect.objectContaining({ status: "failed", attempts: 1, last_error: "redirects are not followed" }),
    ]);
    expect(outcomes(await attempts(filed.created))).toEqual([[1, "failed", 302]]);
    expect((await received(hookPath("redirect", "moved"))).map((entry) => entry.status)).toEqual([302]);
    // The Location it was sent to never saw a request.
    expect(await received(hookPath("ok", "moved"))).toEqual([]);
  });
});

describe("a request whose webhook_url was set to NULL (the runbook's way to stop its webhooks)", () => {
  it("has its deliveries skipped: nothing sent, nothing counted as an attempt", async () => {
    const path = hookPath("ok", "disabled");
    const filed = await fileRequest(hookUrl("ok", "disabled"));
    await testSql()`UPDATE approval_requests SET webhook_url = NULL WHERE id = ${filed.request_id}`;

    const consumed = await consume([filed.created]);
    expect(consumed.acked).toEqual([filed.created]);
    expect(consumed.metrics).toEqual({ "nova_webhook_attempts_total{outcome=skipped}": 1 });
    expect(await received(path)).toEqual([]);
    expect(await outbox(filed.request_id)).toEqual([
      expect.objectContaining({ status: "skipped", attempts: 0, last_error: "webhook_url is NULL" }),
    ]);
    expect(await attempts(filed.created)).toEqual([
      expect.objectContaining({ outcome: "skipped", status_code: null, error: "webhook_url is NULL" }),
    ]);
    expect(await requestColumns(filed.request_id)).toEqual({
      webhook_attempts: 0,
      last_webhook_status: null,
      has_last_webhook_at: false,
    });

    // Later events of the request are not even written.
    const queue = recordingQueue();
    await approve(filed.request_id, "no hook", queue);
    expect(queue.ids()).toEqual([]);
    expect(await outbox(filed.request_id)).toHaveLength(1);
  });
});

describe("the cron sweep", () => {
  it("delivers events whose enqueue was lost, once the grace period has passed", async () => {
    const lost = await fileRequest(hookUrl("ok", "lost-send"), { queue: failingQueueAsRecording() });
    // No queue binding at all (the operator scripts): the sweep is the only sender.
    const unbound = await fileRequestWithoutQueue(hookUrl("ok", "no-binding"));
    const ids = [...(await outbox(lost.request_id)), ...(await outbox(unbound))].map((row) => {
      expect(row).toMatchObject({ event: "approval_request_created", status: "pending", enqueued: false });
      return row.id;
    });

    // Within the grace period the sweep leaves them (an enqueue may still be on its way).
    const early = recordingQueue();
    await cron(Date.now(), early);
    expect(early.ids()).toEqual([]);

    const sweep = recordingQueue();
    await cron(Date.now() + 31_000, sweep);
    expect(sweep.ids()).toEqual(ids);
    for (const id of ids) expect((await outbox(await requestOf(id)))[0]?.enqueued).toBe(true);
    // Claimed: the next run does not send them again.
    const next = recordingQueue();
    await cron(Date.now() + 32_000, next);
    expect(next.ids()).toEqual([]);

    expect((await consume(ids)).acked).toEqual(ids);
    expect(await received(hookPath("ok", "lost-send"))).toHaveLength(1);
    expect(await received(hookPath("ok", "no-binding"))).toHaveLength(1);
    expect((await outbox(lost.request_id))[0]?.status).toBe("delivered");
  });

  it("whose own send fails leaves the deliveries for the next minute, and does not fail the escalation run", async () => {
    const filed = await fileRequestWithoutQueue(hookUrl("ok", "sweep-send-fails"));
    const [row] = await outbox(filed);
    const lines: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const ctx = createExecutionContext();
      await worker.scheduled(
        createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() + 31_000 }),
        testEnv({ ...INSECURE, LOG_LEVEL: "info", WEBHOOK_QUEUE: failingQueue() }),
        ctx,
      );
      await waitOnExecutionContext(ctx);
    } finally {
      log.mockRestore();
    }
    expect(lines.some((line) => line.includes('"msg":"webhook_sweep_failed"'))).toBe(true);
    expect(lines.some((line) => line.includes('"msg":"escalation_run_failed"'))).toBe(false);
    // Unclaimed again: the next minute's sweep takes it, not the one-hour stale rule.
    expect((await outbox(filed))[0]).toMatchObject({ id: row?.id, status: "pending", enqueued: false });
    const next = recordingQueue();
    await cron(Date.now() + 62_000, next);
    expect(next.ids()).toContain(row?.id);
  });

  it("does nothing while deliveries are paused; the consumer hands deliveries back; resuming sends them", async () => {
    const path = hookPath("ok", "paused");
    const switchPath = (action: string) => `/api/v1/admin/webhooks/${action}`;
    const post = (action: string, reason: string, key: TestKey = admin) =>
      call(switchPath(action), {
        method: "POST",
        headers: { ...key.headers, "Content-Type": "application/json" },
        body: JSON.stringify({ reason }),
      });
    try {
      const filed = await fileRequest(hookUrl("ok", "paused"));
      expect((await post("pause", "receiver migration", approver)).status).toBe(403);
      const paused = await post("pause", "receiver migration");
      expect(paused.status).toBe(200);
      expect(await paused.json()).toMatchObject({
        paused: true,
        reason: "receiver migration",
        changed_by: admin.principalId,
      });

      const consumed = await consume([filed.created]);
      expect(consumed.acked).toEqual([filed.created]);
      expect(consumed.metrics).toEqual({ "nova_webhook_attempts_total{outcome=paused}": 1 });
      expect(await received(path)).toEqual([]);
      expect(await outbox(filed.request_id)).toEqual([
        expect.objectContaining({ status: "pending", attempts: 0, enqueued: false }),
      ]);
      expect(await attempts(filed.created)).toEqual([expect.objectContaining({ outcome: "paused" })]);
      expect((await requestColumns(filed.request_id)).webhook_attempts).toBe(0);

      const whilePaused = recordingQueue();
      await cron(Date.now() + 31_000, whilePaused);
      expect(whilePaused.ids()).toEqual([]);
      const status = await call("/api/v1/admin/webhooks", { headers: admin.headers });
      expect(await status.json()).toMatchObject({ paused: true, reason: "receiver migration" });

      expect((await post("resume", "migration done")).status).toBe(200);
      const resumed = recordingQueue();
      await cron(Date.now() + 31_000, resumed);
      expect(resumed.ids()).toEqual([filed.created]);
      expect((await consume([filed.created])).acked).toEqual([filed.created]);
      expect(await received(path)).toHaveLength(1);
      expect((await outbox(filed.request_id))[0]?.status).toBe("delivered");

      const audit = (await testSql()`SELECT action, actor, after FROM audit_events
        WHERE target_type = 'job' AND target_id = 'webhooks' ORDER BY id`) as {
        action: string;
        actor: string;
        after: unknown;
      }[];
      expect(audit).toEqual([
        {
          action: "webhooks.pause",
          actor: admin.principalId,
          after: { paused: true, reason: "receiver migration" },
        },
        {
          action: "webhooks.resume",
          actor: admin.principalId,
          after: { paused: false, reason: "migration done" },
        },
      ]);
    } finally {
      await testSql()`UPDATE job_controls SET paused = false WHERE job = 'webhooks'`;
    }
  });
});

describe("a bulk reject", () => {
  it("of 300 requests delivers exactly one rejected event per request", async () => {
    const COUNT = 300;
    const tenant = `bulk-${RUN}`;
    const path = hookPath("ok", "bulk");
    const filing = recordingQueue();
    const requestIds: string[] = [];
    for (let start = 0; start < COUNT; start += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, COUNT - start) }, () =>
          fileRequest(hookUrl("ok", "bulk"), { tenant, queue: filing }),
        ),
      );
      requestIds.push(...batch.map((filed) => filed.request_id));
    }
    expect(new Set(requestIds).size).toBe(COUNT);
    expect(filing.ids()).toHaveLength(COUNT);

    const rejecting = recordingQueue();
    const res = await call(
      `${REQUESTS}/reject-pending`,
      {
        method: "POST",
        headers: { ...admin.headers, "Content-Type": "application/json" },
        body: JSON.stringify({ reason: "incident 42", tenant_id: tenant }),
      },
      { ...INSECURE, WEBHOOK_QUEUE: rejecting.binding },
    );
    expect(res.status, await res.clone().text()).toBe(200);
    const result = (await res.json()) as { rejected: number; request_ids: string[] };
    expect(result.rejected).toBe(COUNT);
    expect(new Set(result.request_ids)).toEqual(new Set(requestIds));

    // One delivery per request, in sendBatch calls of at most 100.
    expect(rejecting.batches.map((batch) => batch.length)).toEqual([100, 100, 100]);
    const ids = rejecting.ids();
    expect(new Set(ids).size).toBe(COUNT);
    const rows = (await testSql()`SELECT id::int AS id, request_id FROM webhook_outbox
      WHERE event = 'approval_request_rejected' AND request_id = ANY(${requestIds}) ORDER BY id`) as {
      id: number;
      request_id: string;
    }[];
    expect(rows.map((row) => row.id)).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(rows.map((row) => row.request_id))).toEqual(new Set(requestIds));

    for (let start = 0; start < ids.length; start += 50) {
      const chunk = ids.slice(start, start + 50);
      expect((await consume(chunk)).acked).toEqual([...chunk].sort((a, b) => a - b));
    }

    const got = await received(path);
    expect(got).toHaveLength(COUNT);
    const bodies = got.map((entry) => JSON.parse(entry.body) as EventBody);
    expect(new Set(bodies.map((body) => body.event))).toEqual(new Set(["approval_request_rejected"]));
    expect(new Set(bodies.map((body) => body.request_id))).toEqual(new Set(requestIds));
    expect(new Set(bodies.map((body) => body.event_id)).size).toBe(COUNT);
    for (const body of bodies)
      expect(body).toMatchObject({ status: "rejected", actor: admin.principalId, reason: "incident 42" });
    const delivered = (await testSql()`SELECT count(*)::int AS n FROM webhook_outbox
      WHERE id = ANY(${ids}) AND status = 'delivered' AND attempts = 1`) as { n: number }[];
    expect(delivered[0]?.n).toBe(COUNT);
  });
});

describe("the send-time destination check (production settings)", () => {
  const production = { ALLOW_INSECURE_WEBHOOKS: "false", WEBHOOK_DNS_RESOLVER: `${RECEIVER}/dns-query` };

  it("refuses plain http to a loopback address that was written in by SQL: nothing sent", async () => {
    const path = hookPath("ok", "sneaky");
    const filed = await fileRequest(hookUrl("ok", "other"));
    await testSql()`UPDATE approval_requests SET webhook_url = ${hookUrl("ok", "sneaky")}
      WHERE id = ${filed.request_id}`;
    const consumed = await consume([filed.created], { env: production });
    expect(consumed.acked).toEqual([filed.created]);
    expect(consumed.metrics).toEqual({
      "nova_webhook_attempts_total{outcome=failed}": 1,
      "nova_webhook_failures_total{reason=refused}": 1,
    });
    const [row] = await outbox(filed.request_id);
    expect(row).toMatchObject({ status: "failed", attempts: 0 });
    expect(row?.last_error).toMatch(/^refused: must use https/);
    expect(await received(path)).toEqual([]);
    expect(await requestColumns(filed.request_id)).toEqual({
      webhook_attempts: 0,
      last_webhook_status: "refused",
      has_last_webhook_at: false,
    });
  });

  it("refuses an https name that resolves to a private address, and retries one that does not resolve", async () => {
    const rebound = await fileRequest(hookUrl("ok", "rebound"));
    await testSql()`UPDATE approval_requests SET webhook_url = 'https://loopback.hooks-test.com/hook'
      WHERE id = ${rebound.request_id}`;
    expect((await consume([rebound.created], { env: production })).acked).toEqual([rebound.created]);
    expect((await outbox(rebound.request_id))[0]).toMatchObject({
      status: "failed",
      last_error: "refused: loopback.hooks-test.com resolves to 127.0.0.1, which is not a public address",
    });

    const broken = await fileRequest(hookUrl("ok", "broken-dns"));
    await testSql()`UPDATE approval_requests SET webhook_url = 'https://servfail.hooks-test.com/hook'
      WHERE id = ${broken.request_id}`;
    const consumed = await consume([broken.created], { env: production });
    expect(consumed.retried.get(broken.created)).toBeGreaterThan(0);
    expect((await outbox(broken.request_id))[0]).toMatchObject({
      status: "pending",
      attempts: 0,
      last_error: "could not resolve the host",
    });
    expect((await requestColumns(broken.request_id)).last_webhook_status).toBe("dns_error");
    await testSql()`UPDATE webhook_outbox SET status = 'failed' WHERE id = ${broken.created}`;
  });
});

/** A queue whose sends fail, in the shape fileRequest takes. */
function failingQueueAsRecording(): RecordingQueue {
  return { ...recordingQueue(), binding: failingQueue() };
}

/** Files a request with no WEBHOOK_QUEUE binding at all; returns its id. */
async function fileRequestWithoutQueue(url: string): Promise<string> {
  const res = await call(
    REQUESTS,
    {
      method: "POST",
      headers: { ...agent.headers, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: "hooks-tenant",
        payload: { amount: 120 },
        requested_by: agent.principalId,
        webhook_url: url,
      }),
    },
    { ...INSECURE, WEBHOOK_QUEUE: undefined },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { request_id: string }).request_id;
}

async function requestOf(deliveryId: number): Promise<string> {
  const [row] = (await testSql()`SELECT request_id FROM webhook_outbox WHERE id = ${deliveryId}`) as {
    request_id: string;
  }[];
  if (!row) throw new Error(`no delivery ${deliveryId}`);
  return row.request_id;
}
