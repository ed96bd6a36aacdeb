// What every service call gets, whoever calls it (a route, the cron, the queue consumer, the console,
// MCP): the database, the bindings, a logger, the invocation's metric counters and waitUntil. No
// Hono types here: services never see an HTTP context.
import { createDb, type Database, type DatabaseBindings } from "../db/client.ts";
import type { DecisionInsert } from "../db/decisions.ts";
import type { Logger } from "../lib/log.ts";
import type { MetricsBuffer, MetricsSink } from "../lib/metrics.ts";

/**
 * The bindings services read: a structural subset of the worker's Env, so the jobs and the operator
 * scripts (Node) can build a context too.
 */
export interface ServiceBindings extends DatabaseBindings {
  WEBHOOK_ENCRYPTION_KEY?: string | undefined;
  ALLOW_INSECURE_WEBHOOKS?: string | undefined;
  METRICS?: MetricsSink | undefined;
  /** Analytics Engine SQL API access for the /metrics counters (all optional). */
  CF_ACCOUNT_ID?: string | undefined;
  CF_ANALYTICS_API_TOKEN?: string | undefined;
  ANALYTICS_ENGINE_SQL_URL?: string | undefined;
  METRICS_DATASET?: string | undefined;
  /** DNS-over-HTTPS resolver for the send-time address check (default Cloudflare's). */
  WEBHOOK_DNS_RESOLVER?: string | undefined;
  /** A webhook attempt's whole time, in ms (default 10000; see deliveryTimeoutMs). */
  WEBHOOK_TIMEOUT_MS?: string | undefined;
  /** Service keys that sign webhooks of requests without their own secret (`version:secret,...`). */
  WEBHOOK_SIGNING_SECRETS?: string | undefined;
  /** Ed25519 private key (PKCS#8 DER, base64) signing the audit chain's checkpoints; optional. */
  AUDIT_SIGNING_KEY?: string | undefined;
  /** The webhooks Queue producer (structurally, so scripts can go without: the sweep then sends). */
  WEBHOOK_QUEUE?: { sendBatch(messages: { body: { delivery_id: number } }[]): Promise<unknown> } | undefined;
  /**
   * The decision-log Queue producer: eval hands its row over and the consumer writes whole batches in
   * one statement. Without it (scripts, some tests) each row is written directly.
   */
  DECISION_LOG_QUEUE?: { send(body: DecisionLogMessage): Promise<unknown> } | undefined;
}

/** A decision-log row on its way through the queue (JSON: the time as an ISO string). */
export interface DecisionLogMessage {
  decision: Omit<DecisionInsert, "createdAt"> & { createdAt: string };
}

export interface ServiceContext {
  /** Drizzle over Neon's HTTP driver; created on first use (an unconfigured database fails there). */
  readonly db: Database;
  readonly env: ServiceBindings;
  readonly log: Logger;
  /** Counters of this invocation, written to Analytics Engine once when it ends. */
  readonly metrics: MetricsBuffer;
  /** Work that may finish after the answer (decision log, last-used stamps). */
  waitUntil(promise: Promise<unknown>): void;
  /** The HTTP request id, or the job run's id: recorded in audit rows and the decision log. */
  readonly requestId: string | null;
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
}): ServiceContext {
  let db: Database | undefined;
  return {
    get db() {
      db ??= createDb(options.env);
      return db;
    },
    env: options.env,
    log: options.log,
    metrics: options.metrics,
    waitUntil: options.waitUntil,
    requestId: options.requestId,
    annotate: (msg, fields) => (options.annotate ? options.annotate(fields) : options.log.info(msg, fields)),
  };
}
