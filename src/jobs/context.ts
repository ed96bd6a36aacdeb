// What a background invocation (a cron run or a queue batch) works with: the same service context the
// HTTP routes get, with the run's own id in place of a request id, its logger and its metric counters.
import { logLevelFor } from "../config.ts";
import { newRunId } from "../domain/ids.ts";
import type { Bindings } from "../env.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { MetricsBuffer } from "../lib/metrics.ts";
import { createServiceContext, type ServiceContext } from "../services/context.ts";

export interface JobContext {
  services: ServiceContext;
  /** Tagged with the job's name and run id. */
  log: Logger;
  /** The run's counters; the job flushes them to Analytics Engine once when it ends. */
  metrics: MetricsBuffer;
}

/** A service context for one run of `job`, with a fresh run id. */
export function jobContext(env: Bindings, ctx: ExecutionContext, job: string): JobContext {
  const runId = newRunId();
  const log = createLogger(logLevelFor(env), { job, run_id: runId });
  const metrics = new MetricsBuffer();
  const services = createServiceContext({
    env,
    log,
    metrics,
    waitUntil: (promise) => ctx.waitUntil(promise),
    requestId: runId,
  });
  return { services, log, metrics };
}
