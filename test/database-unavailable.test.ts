// A database that does not answer costs a call DATABASE_TIMEOUT_MS at most, on both driver paths, and
// is answered as 503 database_unavailable, never a hang or a 500. The hung endpoint is the black hole
// (accepts connections, never answers) standing in for Neon's own front door, so what is bounded here
// is the worker's own timeout, not the local gateway's. The queue consumers retry what the database
// refused, with delays that grow so an outage does not spend their retries in minutes. The full outage
// drill against a running stack is test/node/db-outage.test.ts.
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { NeonDbError } from "@neondatabase/serverless";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { describe, expect, inject, it, vi } from "vitest";
import { createSql, DATABASE_TIMEOUT_MS, withInteractiveTransaction } from "../src/db/client.ts";
import { isDatabaseUnavailable, isTimeout } from "../src/db/errors.ts";
import {
  DECISION_LOG_RETRY,
  outageRetryDelaySeconds,
  WEBHOOK_ERROR_RETRY,
} from "../src/domain/queue-retries.ts";
import worker from "../src/index.ts";
import { testEnv } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { recordRetryDelays } from "./helpers/queue.ts";

const hungGateway = () => `http://127.0.0.1:${inject("blackHolePort")}`;
/** What a call may take beyond the timeout itself: the worker's own work on a loaded machine. */
const SLACK_MS = 3000;

describe("a database that accepts connections and never answers", () => {
  it("answers an API call 503 database_unavailable with Retry-After, after the timeout and no later", async () => {
    const started = Date.now();
    const res = await call(
      "/api/v1/policy/requests?limit=1",
      // A well-formed key: resolving it needs the database.
      { headers: { Authorization: `Bearer pak_${"0".repeat(16)}_${"a".repeat(43)}` } },
      { NEON_LOCAL_GATEWAY: hungGateway() },
    );
    const elapsed = Date.now() - started;
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("5");
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe("database_unavailable");
    expect(elapsed).toBeGreaterThanOrEqual(DATABASE_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(DATABASE_TIMEOUT_MS + SLACK_MS);
  }, 20_000);

  it("gives up an HTTP query after DATABASE_TIMEOUT_MS, as a timeout the API calls unavailable", async () => {
    const started = Date.now();
    const error = await createSql(testEnv({ NEON_LOCAL_GATEWAY: hungGateway() }))
      .query("SELECT 1")
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(DATABASE_TIMEOUT_MS + SLACK_MS);
    expect(error).toBeInstanceOf(NeonDbError);
    expect(isTimeout(error)).toBe(true);
    expect(isDatabaseUnavailable(error)).toBe(true);
  }, 20_000);

  it("gives up connecting an interactive transaction after DATABASE_TIMEOUT_MS", async () => {
    const ctx = createExecutionContext();
    const started = Date.now();
    const error = await withInteractiveTransaction(
      testEnv({ NEON_LOCAL_GATEWAY: hungGateway() }),
      ctx,
      async (tx) => tx.execute("SELECT 1"),
    ).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(DATABASE_TIMEOUT_MS + SLACK_MS);
    expect(isDatabaseUnavailable(error)).toBe(true);
    await waitOnExecutionContext(ctx);
  }, 20_000);
});

describe("classifying failures", () => {
  it("takes an abort reason for a timeout however it arrives: bare, wrapped by the driver or by drizzle", () => {
    const reason = new DOMException("The operation was aborted due to timeout", "TimeoutError");
    const driver = Object.assign(new NeonDbError(`Error connecting to database: ${reason}`), {
      sourceError: reason,
    });
    const drizzle = new DrizzleQueryError("select 1", [], reason);
    for (const error of [reason, driver, drizzle]) {
      expect(isTimeout(error)).toBe(true);
      expect(isDatabaseUnavailable(error)).toBe(true);
    }
  });

  it("keeps a failing statement apart from an unreachable database", () => {
    const syntax = Object.assign(new NeonDbError("syntax error"), { code: "42601" });
    expect(isDatabaseUnavailable(syntax)).toBe(false);
    expect(isDatabaseUnavailable(new TypeError("x is undefined"))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
    const shutdown = Object.assign(new NeonDbError("terminating connection"), { code: "57P01" });
    expect(isDatabaseUnavailable(new DrizzleQueryError("select 1", [], shutdown))).toBe(true);
  });
});

describe("queue consumers while the database is away", () => {
  const deadDatabase = { DATABASE_URL: "postgresql://postgres:postgres@127.0.0.1:1/policy" };

  /** Runs the real queue() on one batch; returns each message's fate and the delay it asked for. */
  async function consume(queue: string, messages: { body: unknown; attempts: number }[]) {
    const batch = createMessageBatch(
      queue,
      messages.map((message, i) => ({ id: `m${i}`, timestamp: new Date(), ...message })),
    );
    const delays = recordRetryDelays(batch);
    const ctx = createExecutionContext();
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await worker.queue(batch, testEnv(deadDatabase), ctx);
      const result = await getQueueResult(batch, ctx);
      return { acked: result.explicitAcks, retried: result.retryMessages.map((m) => m.msgId), delays };
    } finally {
      log.mockRestore();
    }
  }

  it("retries decision-log rows with a delay that grows with each try, acking none", async () => {
    const decision = (id: string) => ({
      decision: {
        id,
        tenantId: "t",
        agentId: null,
        skillId: "s",
        policyType: "cost",
        decision: "allow",
        approvalLevelRequired: 1,
        simulatedCostCents: 0,
        policyVersion: 1,
        overridesUsed: false,
        reasons: [],
        violations: [],
        checks: [],
        principalId: "p",
        keyId: "k",
        requestId: null,
        createdAt: new Date().toISOString(),
      },
    });
    const first = await consume("policy-decisions", [{ body: decision("dec_a"), attempts: 1 }]);
    expect(first.acked).toEqual([]);
    expect(first.delays.get("m0")).toBe(DECISION_LOG_RETRY.first);
    const later = await consume("policy-decisions-dlq", [{ body: decision("dec_b"), attempts: 30 }]);
    expect(later.retried).toEqual(["m0"]);
    expect(later.delays.get("m0")).toBe(DECISION_LOG_RETRY.cap);
  });

  it("retries webhook deliveries with a growing delay, neither acking nor marking them dead", async () => {
    const result = await consume("policy-webhooks", [
      { body: { delivery_id: 1 }, attempts: 1 },
      { body: { delivery_id: 2 }, attempts: 3 },
    ]);
    expect(result.acked).toEqual([]);
    expect(result.delays.get("m0")).toBe(WEBHOOK_ERROR_RETRY.first);
    expect(result.delays.get("m1")).toBe(WEBHOOK_ERROR_RETRY.first * 4);
    const dead = await consume("policy-webhooks-dlq", [{ body: { delivery_id: 3 }, attempts: 50 }]);
    expect(dead.retried).toEqual(["m0"]);
    expect(dead.delays.get("m0")).toBe(WEBHOOK_ERROR_RETRY.cap);
  });

  it("spaces retries so an outage of hours, not minutes, spends a message's max_retries", () => {
    // max_retries in wrangler.toml: 10 on each queue, 100 on the decision log's dead letters.
    const total = (policy: { first: number; cap: number }, retries: number) =>
      Array.from({ length: retries }, (_, i) => outageRetryDelaySeconds(i + 1, policy)).reduce(
        (a, b) => a + b,
      );
    expect(total(DECISION_LOG_RETRY, 10)).toBeGreaterThan(20 * 60);
    expect(total(DECISION_LOG_RETRY, 10) + total(DECISION_LOG_RETRY, 100)).toBeGreaterThan(8 * 3600);
    expect(total(WEBHOOK_ERROR_RETRY, 10)).toBeGreaterThan(80 * 60);
    // Within what a Queue accepts as a delay (12 h).
    expect(Math.max(DECISION_LOG_RETRY.cap, WEBHOOK_ERROR_RETRY.cap)).toBeLessThanOrEqual(12 * 3600);
  });
});
