// What every service call gets, whoever calls it (a route, the cron, the queue consumer, the console,
// MCP): the database, the bindings, a logger, the invocation's metric counters and waitUntil. No
// Hono types here: services never see an HTTP context.
import { createDb, type Database } from "../db/client.ts";
import type { Bindings } from "../env.ts";
import type { Logger } from "../lib/log.ts";
import type { MetricsBuffer } from "../lib/metrics.ts";

export interface ServiceContext {
  /** Drizzle over Neon's HTTP driver; created on first use (an unconfigured database fails there). */
  readonly db: Database;
  readonly env: Bindings;
  readonly log: Logger;
  /** Counters of this invocation, written to Analytics Engine once when it ends. */
  readonly metrics: MetricsBuffer;
  /** Work that may finish after the answer (decision log, last-used stamps). */
  waitUntil(promise: Promise<unknown>): void;
  /** The HTTP request id, or the job run's id: recorded in audit rows and the decision log. */
  readonly requestId: string | null;
}

export function createServiceContext(options: {
  env: Bindings;
  log: Logger;
  metrics: MetricsBuffer;
  waitUntil: (promise: Promise<unknown>) => void;
  requestId: string | null;
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
  };
}
