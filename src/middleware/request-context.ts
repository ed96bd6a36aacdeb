// Per-request context: the request id (X-Request-Id, the caller's if sane, else a new one), then the
// logger, the metrics buffer and the services' context every later middleware and route uses, and
// finally the request's one log line and its HTTP metrics.
import type { MiddlewareHandler } from "hono";
import { requestId } from "hono/request-id";
import { logLevelFor } from "../config.ts";
import { newHttpRequestId } from "../domain/ids.ts";
import type { AppEnv } from "../env.ts";
import { createLogger } from "../lib/log.ts";
import { MetricsBuffer } from "../lib/metrics.ts";
import { createServiceContext } from "../services/context.ts";

/** Sets c.var.requestId and the X-Request-Id response header. */
export function assignRequestId(): MiddlewareHandler<AppEnv> {
  return requestId({ headerName: "X-Request-Id", limitLength: 128, generator: newHttpRequestId });
}

/**
 * Adds `fields` to the request's line; a field given again (several transitions in one request, e.g. a
 * bulk decision) becomes the list of its values rather than the last one.
 */
function annotateLine(annotations: Record<string, unknown>, fields: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(fields)) {
    if (!(key in annotations)) annotations[key] = value;
    else {
      const before = annotations[key];
      annotations[key] = [...(Array.isArray(before) ? before : [before]), value];
    }
  }
}

/** Sets c.var.log, c.var.metrics and c.var.services; after the request, logs it and counts it. */
export function requestContext(): MiddlewareHandler<AppEnv> {
  return async function requestContext(c, next) {
    const log = createLogger(logLevelFor(c.env), { request_id: c.var.requestId });
    const metrics = new MetricsBuffer();
    // What the services add to this request's one log line (e.g. the decision an evaluation made).
    const annotations: Record<string, unknown> = {};
    c.set("log", log);
    c.set("metrics", metrics);
    c.set(
      "services",
      createServiceContext({
        env: c.env,
        log,
        metrics,
        waitUntil: (promise) => c.executionCtx.waitUntil(promise),
        requestId: c.var.requestId,
        annotate: (fields) => annotateLine(annotations, fields),
        signal: c.req.raw.signal,
      }),
    );
    const started = performance.now();
    try {
      await next();
    } finally {
      // Request counts and latency per route pattern (average latency = duration total / requests).
      const route = c.req.routePath;
      const status = String(c.res.status);
      metrics.count("nova_http_requests_total", { route, status });
      metrics.count(
        "nova_http_request_duration_seconds_total",
        { route },
        (performance.now() - started) / 1000,
      );
      metrics.flush(c.env.METRICS, log);
    }
    // Path only: query strings and headers may carry identifiers or keys that do not belong in logs.
    const principal = c.var.principal;
    log.info("request", {
      method: c.req.method,
      path: c.req.path,
      // The matched route pattern (e.g. /api/v1/policy/requests/:request_id/approve), for grouping.
      route: c.req.routePath,
      status: c.res.status,
      duration_ms: Math.round(performance.now() - started),
      // Who asked (never the key itself): the key id, its principal and the tenant it is confined to.
      key_id: principal?.keyId,
      principal_id: principal?.principalId,
      tenant_id: principal?.tenantId ?? undefined,
      ...annotations,
    });
  };
}
