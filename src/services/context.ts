// What every service call gets, whoever calls it (a route, the cron, the queue consumer, the console,
// MCP): the database, the bindings, the parsed configuration, a logger, the invocation's metric
// counters and waitUntil. No Hono types here: services never see an HTTP context.
import { type Config, type ConfigBindings, ConfigError, loadConfig } from "../config.ts";
import { createDb, type Database, type DatabaseBindings } from "../db/client.ts";
import type { DecisionInsert } from "../db/decisions.ts";
import type { LeaseAnswer, LeaseRequest } from "../domain/wait-gate.ts";
import type { RequestChange, WakeAnswer } from "../domain/wait-room.ts";
import type { Logger } from "../lib/log.ts";
import type { MetricsBuffer, MetricsSink } from "../lib/metrics.ts";
import type { RateLimitBindings } from "../lib/rate-limit-spend.ts";

/**
 * The bindings services read: a structural subset of the worker's Env, so the jobs and the operator
 * scripts (Node) can build a context too. The vars and secrets are documented in src/config.ts;
 * services read them parsed, through `ctx.config`.
 */
export interface ServiceBindings extends DatabaseBindings, ConfigBindings, RateLimitBindings {
  METRICS?: MetricsSink | undefined;
  /** The webhooks Queue producer (structurally, so scripts can go without: the sweep then sends). */
  WEBHOOK_QUEUE?: { sendBatch(messages: { body: { delivery_id: number } }[]): Promise<unknown> } | undefined;
  /**
   * The decision-log Queue producer: eval hands its row over and the consumer writes whole batches in
   * one statement. Without it (scripts, some tests) each row is written directly.
   */
  DECISION_LOG_QUEUE?: { send(body: DecisionLogMessage): Promise<unknown> } | undefined;
  /**
   * The wait gate (the WaitGate Durable Object namespace, src/durable/wait-gate.ts), structurally:
   * leases on open waits, taken and released by services/waits.ts. Without it (scripts, some tests)
   * waits are not gated.
   */
  WAIT_GATE?: WaitGateNamespace | undefined;
  /**
   * The wait room (the WaitRoom Durable Object namespace, src/durable/wait-room.ts), structurally:
   * holds waits until their request changes; every transition notifies it (services/waits.ts). Without
   * it (scripts, some tests) waits re-read the database every WAIT_RECHECK_SECONDS instead.
   */
  WAIT_ROOM?: WaitRoomNamespace | undefined;
  /**
   * Cloudflare's send_email binding (notification email, services/notifications/send.ts). Without it
   * (scripts) email notifications wait, retried, for a worker that has it.
   */
  SEND_EMAIL?: EmailSender | undefined;
}

/**
 * Cloudflare's send_email binding as the services use it, structurally (as the wait room's), so the
 * scripts' TypeScript project, which has no Workers types, still checks: the runtime's SendEmail fits.
 */
export interface EmailSender {
  send(message: { readonly from: string; readonly to: string }): Promise<unknown>;
}

/** The wait room's namespace as the services use it: one object per name (src/domain/wait-room.ts roomName). */
export interface WaitRoomNamespace {
  getByName(name: string): WaitRoomStub;
}

/** One room: hold a waiter until its request changes or time is up; record and announce changes. */
export interface WaitRoomStub {
  attach(requestId: string, version: number, timeoutMs: number): Promise<WakeAnswer>;
  notify(changes: RequestChange[]): Promise<number>;
}

/** The wait gate's namespace as the services use it: one object per name (src/domain/wait-gate.ts waitGates). */
export interface WaitGateNamespace {
  getByName(name: string): WaitGateStub;
}

/** One gate: a lease for a wait, or the limit that refuses it; and the lease's release. */
export interface WaitGateStub {
  acquire(request: LeaseRequest): Promise<LeaseAnswer>;
  release(leaseId: string): Promise<unknown>;
}

/** A decision-log row on its way through the queue (JSON: the time as an ISO string). */
export interface DecisionLogMessage {
  decision: Omit<DecisionInsert, "createdAt"> & { createdAt: string };
}

export interface ServiceContext {
  /** Drizzle over Neon's HTTP driver; created on first use (an unconfigured database fails there). */
  readonly db: Database;
  readonly env: ServiceBindings;
  /**
   * The vars and secrets, parsed (src/config.ts) on first use and once per env object. An invalid
   * value throws ConfigError there (an internal_error naming the variable), logged as config_invalid.
   */
  readonly config: Config;
  readonly log: Logger;
  /** Counters of this invocation, written to Analytics Engine once when it ends. */
  readonly metrics: MetricsBuffer;
  /** Work that may finish after the answer (decision log, last-used stamps). */
  waitUntil(promise: Promise<unknown>): void;
  /** The HTTP request id, or the job run's id: recorded in audit rows and the decision log. */
  readonly requestId: string | null;
  /**
   * Aborted when the HTTP client goes away (wrangler.toml's enable_request_signal): a wait stops
   * there. Jobs and scripts have none.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Adds fields to the invocation's one summary log line (the request line), where there is one;
   * otherwise they are logged on a line of their own under `msg`.
   */
  annotate(msg: string, fields: Record<string, unknown>): void;
}

export function createServiceContext(options: {
  env: ServiceBindings;
  log: Logger;
  metrics: MetricsBuffer;
  waitUntil: (promise: Promise<unknown>) => void;
  requestId: string | null;
  annotate?: (fields: Record<string, unknown>) => void;
  signal?: AbortSignal;
}): ServiceContext {
  let db: Database | undefined;
  return {
    get db() {
      db ??= createDb(options.env);
      return db;
    },
    env: options.env,
    get config() {
      try {
        return loadConfig(options.env);
      } catch (error) {
        // Names and problems only: the values may be secrets.
        if (error instanceof ConfigError) options.log.error("config_invalid", { problems: error.problems });
        throw error;
      }
    },
    log: options.log,
    metrics: options.metrics,
    waitUntil: options.waitUntil,
    requestId: options.requestId,
    signal: options.signal,
    annotate: (msg, fields) => (options.annotate ? options.annotate(fields) : options.log.info(msg, fields)),
  };
}
