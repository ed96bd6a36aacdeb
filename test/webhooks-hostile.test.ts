// Slow and hostile webhook receivers (issue 14): one that takes the request and never answers, one
// that never finishes its headers, endless and huge bodies, a body that trickles, a redirect to the
// cloud metadata address. Each attempt ends within its timeout, records why, and is retried or fails
// by the usual rules; a batch of them ends within the batch's bound (deliveryBatch in
// src/services/webhooks/delivery.ts). The receiver is the real one of the global setup
// (test/setup/webhook-receiver.ts); its path chooses the behaviour, and it records when the worker
// hung up on it. The tests drive the worker's real queue() consumer, as test/webhooks.test.ts does.
//
// The delivery timeout is set short (WEBHOOK_TIMEOUT_MS) so that a hanging receiver costs a second, not
// ten. Timings are asserted only as upper bounds with generous slack, and as "not before the timeout"
// where ending early would mean the clock was not the one configured.
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Bindings } from "../src/env.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext } from "../src/services/context.ts";
import { deliver, deliveryBatch } from "../src/services/webhooks/delivery.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { consumeDeliveries, recordingQueue } from "./helpers/queue.ts";

const REQUESTS = "/api/v1/policy/requests";
const RECEIVER = inject("webhookReceiverUrl");
/** Keeps this run's receiver paths apart from any earlier run against the same receiver (watch mode). */
const RUN = crypto.randomUUID().slice(0, 8);
const TIMEOUT_MS = 1000;
/** Room for the database round trips around a send, on a busy machine. */
const SLACK_MS = 4000;
/** The excerpt never holds more than this many characters, plus the note of where it was cut. */
const EXCERPT_CHARS = 300;
const EXCERPT_BYTES = 1200;
const ENV = { ALLOW_INSECURE_WEBHOOKS: "true", WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) } as const;

/** What the receiver recorded for one request (test/setup/webhook-receiver.ts ReceivedRequest). */
interface Received {
  path: string;
  at: number;
  status: number;
  sent: number;
  closedAt: number | null;
}

let agent: TestKey;

beforeAll(async () => {
  agent = await createTestKey("agent", { principalId: "hostile-hook-bot" });
});

const hookPath = (scenario: string, name: string) => `/hooks/${scenario}/${name}-${RUN}`;

async function received(path: string): Promise<Received[]> {
  const res = await fetch(`${RECEIVER}/_received?path=${encodeURIComponent(path)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Received[];
}

/** The one request that reached `path`, once the worker has hung up on it (polled: the close is async). */
async function hungUp(path: string): Promise<Received> {
  for (let tries = 0; ; tries += 1) {
    const [entry, ...more] = await received(path);
    expect(more).toEqual([]);
    if (!entry) throw new Error(`nothing reached ${path}`);
    if (entry.closedAt !== null || tries >= 50) return entry;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Filed {
  requestId: string;
  deliveryId: number;
  path: string;
}

/** Files a request whose webhook goes to the receiver's `scenario`; returns its created event's delivery. */
async function file(scenario: string, name: string): Promise<Filed> {
  const path = hookPath(scenario, name);
  const queue = recordingQueue();
  const res = await call(
    REQUESTS,
    {
      method: "POST",
      headers: { ...agent.headers, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: "hostile-hooks",
        payload: { amount: 120 },
        requested_by: agent.principalId,
        webhook_url: `${RECEIVER}${path}`,
      }),
    },
    { ...ENV, WEBHOOK_QUEUE: queue.binding },
  );
  expect(res.status, await res.clone().text()).toBe(200);
  const [deliveryId, ...rest] = queue.ids();
  expect(rest).toEqual([]);
  if (deliveryId === undefined) throw new Error("the create enqueued nothing");
  return { requestId: ((await res.json()) as { request_id: string }).request_id, deliveryId, path };
}

/** The real consumer on one batch of `ids` (consumeDeliveries), with this file's short timeout. */
function consume(ids: number[], env: Partial<Bindings> = {}) {
  return consumeDeliveries(ids, { env: { ...ENV, ...env } });
}

interface AttemptRow {
  attempt: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
  duration_ms: number;
}

async function attempts(deliveryId: number): Promise<AttemptRow[]> {
  return (await testSql()`SELECT attempt::int AS attempt, outcome, status_code::int AS status_code, error,
      response_excerpt, duration_ms::int AS duration_ms
    FROM webhook_attempts WHERE delivery_id = ${deliveryId} ORDER BY id`) as AttemptRow[];
}

async function only(deliveryId: number): Promise<AttemptRow> {
  const [attempt, ...more] = await attempts(deliveryId);
  expect(more).toEqual([]);
  if (!attempt) throw new Error(`no attempt of delivery ${deliveryId}`);
  return attempt;
}

async function state(filed: Filed) {
  const [row] = (await testSql()`SELECT o.status, o.attempts::int AS attempts, o.last_error,
      r.last_webhook_status, r.webhook_attempts::int AS webhook_attempts
    FROM webhook_outbox o JOIN approval_requests r ON r.id = o.request_id
    WHERE o.id = ${filed.deliveryId}`) as {
    status: string;
    attempts: number;
    last_error: string | null;
    last_webhook_status: string | null;
    webhook_attempts: number;
  }[];
  if (!row) throw new Error(`no delivery ${filed.deliveryId}`);
  return row;
}

/** Settles a delivery left pending, so nothing of this file is ever sent again. */
async function settle(filed: Filed) {
  await testSql()`UPDATE webhook_outbox SET status = 'failed' WHERE id = ${filed.deliveryId}`;
}

describe("a receiver that never answers", () => {
  for (const scenario of ["hang", "trickle-headers"]) {
    it(`(${scenario}) is given up at the timeout, recorded as a timeout, and retried`, async () => {
      const filed = await file(scenario, "silent");
      const consumed = await consume([filed.deliveryId]);
      expect(consumed.acked).toEqual([]);
      expect(consumed.retried.get(filed.deliveryId)).toBeGreaterThanOrEqual(5);
      expect(consumed.metrics).toMatchObject({ "nova_webhook_attempts_total{outcome=retry}": 1 });
      expect(consumed.elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS);
      expect(consumed.elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);

      const attempt = await only(filed.deliveryId);
      expect(attempt).toMatchObject({
        attempt: 1,
        outcome: "retry",
        status_code: null,
        error: `no answer within ${TIMEOUT_MS} ms`,
        response_excerpt: null,
      });
      expect(attempt.duration_ms).toBeGreaterThanOrEqual(TIMEOUT_MS);
      expect(attempt.duration_ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(await state(filed)).toEqual({
        status: "pending",
        attempts: 1,
        last_error: `no answer within ${TIMEOUT_MS} ms`,
        last_webhook_status: "timeout",
        webhook_attempts: 1,
      });
      // The request did reach it, and the worker hung up rather than leave the connection open.
      const entry = await hungUp(filed.path);
      expect(entry.status).toBe(0);
      expect(entry.closedAt).not.toBeNull();
      expect((entry.closedAt ?? 0) - entry.at).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      await settle(filed);
    });
  }
});

describe("a receiver whose body never ends", () => {
  it("answering 200 is a delivery: the status decides; the excerpt is bounded and says it was cut", async () => {
    const filed = await file("endless", "stream");
    const consumed = await consume([filed.deliveryId]);
    expect(consumed.acked).toEqual([filed.deliveryId]);
    expect(consumed.metrics).toMatchObject({ "nova_webhook_attempts_total{outcome=success}": 1 });
    // The body is not waited for: only its first bytes are read.
    expect(consumed.elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);

    const attempt = await only(filed.deliveryId);
    expect(attempt).toMatchObject({ outcome: "success", status_code: 200, error: null });
    expect(attempt.response_excerpt).toBe(
      `${"x".repeat(EXCERPT_CHARS)} [cut: not read past ${EXCERPT_BYTES} bytes]`,
    );
    expect(await state(filed)).toMatchObject({
      status: "delivered",
      last_error: null,
      last_webhook_status: "success",
    });
    // The worker let go of the stream (which the receiver would otherwise write forever).
    const entry = await hungUp(filed.path);
    expect(entry.closedAt).not.toBeNull();
    expect((entry.closedAt ?? 0) - entry.at).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  });

  it("answering 500 is retried as a 500, with the same bounded excerpt", async () => {
    const filed = await file("endless-500", "stream");
    const consumed = await consume([filed.deliveryId]);
    expect(consumed.retried.get(filed.deliveryId)).toBeGreaterThanOrEqual(5);
    expect(consumed.elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    const attempt = await only(filed.deliveryId);
    expect(attempt).toMatchObject({ outcome: "retry", status_code: 500, error: null });
    expect(attempt.response_excerpt).toBe(
      `${"x".repeat(EXCERPT_CHARS)} [cut: not read past ${EXCERPT_BYTES} bytes]`,
    );
    expect(await state(filed)).toMatchObject({
      status: "pending",
      last_error: "http_500",
      last_webhook_status: "http_500",
    });
    expect((await hungUp(filed.path)).closedAt).not.toBeNull();
    await settle(filed);
  });

  it("that trickles is read no longer than the timeout: delivered, the excerpt cut at the clock", async () => {
    const filed = await file("trickle-body", "drip");
    const consumed = await consume([filed.deliveryId]);
    expect(consumed.acked).toEqual([filed.deliveryId]);
    expect(consumed.elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(consumed.elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    const attempt = await only(filed.deliveryId);
    expect(attempt).toMatchObject({ outcome: "success", status_code: 200, error: null });
    expect(attempt.response_excerpt).toMatch(
      new RegExp(`^(trickle\\n)+ \\[cut: the body did not end within ${TIMEOUT_MS} ms\\]$`),
    );
    expect(attempt.duration_ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect((await state(filed)).status).toBe("delivered");
    expect((await hungUp(filed.path)).closedAt).not.toBeNull();
  });
});

describe("a receiver with a huge body", () => {
  it("(50 MB) is delivered with a bounded excerpt, and the rest is never read", async () => {
    const filed = await file("huge-body", "flood");
    const consumed = await consume([filed.deliveryId]);
    expect(consumed.acked).toEqual([filed.deliveryId]);
    expect(consumed.elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    const attempt = await only(filed.deliveryId);
    expect(attempt).toMatchObject({ outcome: "success", status_code: 200, error: null });
    expect(attempt.response_excerpt).toBe(
      `${"h".repeat(EXCERPT_CHARS)} [cut: not read past ${EXCERPT_BYTES} bytes]`,
    );
    // The worker hung up long before the receiver could write it all: what the receiver got out is
    // what the socket buffers on both sides took (a few MB on loopback), not the body.
    const entry = await hungUp(filed.path);
    expect(entry.closedAt).not.toBeNull();
    expect(entry.sent).toBeLessThan(16 * 1024 * 1024);
  });
});

describe("a redirect to a private address", () => {
  it("is not followed: the delivery fails as an http_302, acknowledged, not retried", async () => {
    const filed = await file("redirect-private", "metadata");
    const consumed = await consume([filed.deliveryId]);
    expect(consumed.acked).toEqual([filed.deliveryId]);
    expect(consumed.retried.size).toBe(0);
    expect(consumed.metrics).toEqual({
      "nova_webhook_attempts_total{outcome=failed}": 1,
      "nova_webhook_failures_total{reason=rejected}": 1,
    });
    const attempt = await only(filed.deliveryId);
    expect(attempt).toMatchObject({
      outcome: "failed",
      status_code: 302,
      error: "redirects are not followed",
      response_excerpt: "moved to the metadata service",
    });
    expect(await state(filed)).toEqual({
      status: "failed",
      attempts: 1,
      last_error: "redirects are not followed",
      last_webhook_status: "http_302",
      webhook_attempts: 1,
    });
    // One request reached the receiver (the redirect); 169.254.169.254 is not reachable from here,
    // so that nothing was sent there shows as the recorded 302, not a timeout or a network error.
    expect((await received(filed.path)).map((entry) => entry.status)).toEqual([302]);
  });
});

describe("a batch of hostile receivers", () => {
  it("ends within the batch's bound, with every message settled by its own rule", async () => {
    const scenarios = [
      "hang",
      "hang",
      "hang",
      "hang",
      "hang",
      "trickle-headers",
      "endless",
      "trickle-body",
      "huge-body",
      "redirect-private",
    ];
    const filed: Filed[] = [];
    for (const [index, scenario] of scenarios.entries()) filed.push(await file(scenario, `batch-${index}`));
    const ids = filed.map((entry) => entry.deliveryId);

    const consumed = await consume(ids);
    // Four sends at a time: ten messages are three rounds of at most one timeout each, after 10 s
    // of room for the database and DNS (src/services/webhooks/delivery.ts deliveryBatch).
    const bound = deliveryBatch(TIMEOUT_MS, ids.length, 0).deadline;
    expect(bound).toBe(10_000 + 3 * TIMEOUT_MS);
    expect(consumed.elapsed).toBeLessThan(bound);
    // Six of them hold their connection for the whole timeout, four at a time: at least two rounds.
    expect(consumed.elapsed).toBeGreaterThanOrEqual(2 * TIMEOUT_MS);

    const byScenario = (name: string) => filed.filter((_, index) => scenarios[index] === name);
    for (const entry of [...byScenario("hang"), ...byScenario("trickle-headers")]) {
      expect(consumed.retried.has(entry.deliveryId)).toBe(true);
      const attempt = await only(entry.deliveryId);
      expect(attempt).toMatchObject({ outcome: "retry", error: `no answer within ${TIMEOUT_MS} ms` });
      // Each was really sent (the receiver has it): a send's clock starts once it holds a slot.
      expect((await hungUp(entry.path)).status).toBe(0);
      await settle(entry);
    }
    for (const entry of [
      ...byScenario("endless"),
      ...byScenario("trickle-body"),
      ...byScenario("huge-body"),
    ]) {
      expect(consumed.acked).toContain(entry.deliveryId);
      expect(await only(entry.deliveryId)).toMatchObject({ outcome: "success", status_code: 200 });
    }
    for (const entry of byScenario("redirect-private")) {
      expect(consumed.acked).toContain(entry.deliveryId);
      expect(await only(entry.deliveryId)).toMatchObject({ outcome: "failed", status_code: 302 });
    }
  });

  it("does not start a send that could not end before the batch's deadline: not sent, not counted, retried soon", async () => {
    const filed = await file("ok", "too-late");
    const env = testEnv(ENV);
    const services = createServiceContext({
      env,
      log: createLogger("error"),
      metrics: new MetricsBuffer(),
      waitUntil: () => {},
      requestId: null,
    });
    // A batch whose deadline is less than one timeout away: what a slow start leaves the last sends.
    const late = deliveryBatch(TIMEOUT_MS, 1, Date.now() - 10_000 - TIMEOUT_MS / 2);
    expect(await deliver(services, filed.deliveryId, 1, late)).toEqual({ retryAfterSeconds: 5 });

    expect(await only(filed.deliveryId)).toMatchObject({
      attempt: 0,
      outcome: "retry",
      status_code: null,
      error: "not sent: the queue batch ran out of time",
    });
    expect(await state(filed)).toEqual({
      status: "pending",
      attempts: 0,
      last_error: "not sent: the queue batch ran out of time",
      last_webhook_status: null,
      webhook_attempts: 0,
    });
    expect(await received(filed.path)).toEqual([]);

    // The next batch sends it.
    expect((await consume([filed.deliveryId])).acked).toEqual([filed.deliveryId]);
    expect((await state(filed)).status).toBe("delivered");
    expect((await received(filed.path)).map((entry) => entry.status)).toEqual([200]);
  });
});
