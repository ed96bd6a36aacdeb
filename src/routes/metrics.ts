// GET /metrics: the Prometheus scrape (text exposition format). Scrapers authenticate with the
// METRICS_TOKEN secret (read-only: it opens this route and nothing else) or an admin API key.
import type { MiddlewareHandler } from "hono";
import type { Principal } from "../domain/access.ts";
import { digestsEqual, sha256Hex } from "../domain/encoding.ts";
import type { AppEnv } from "../env.ts";
import { authenticate, MIN_ADMIN_KEY_LENGTH, protectedRoute } from "../lib/auth.ts";
import { createRouter } from "../lib/openapi.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../lib/prometheus.ts";
import { PrometheusText } from "../schemas/monitoring.ts";
import { scrape } from "../services/metrics.ts";

/** Who a METRICS_TOKEN scrape acts as: only ever on /metrics (the token is checked nowhere else). */
const METRICS_SCRAPER: Principal = {
  keyId: "metrics-token",
  principalId: "metrics-scraper",
  role: "admin",
  maxLevel: 1,
  tenantId: null,
  agentIds: null,
};

/** The scrape token (at least 32 characters), else the usual API-key authentication. */
export function metricsAuth(): MiddlewareHandler<AppEnv> {
  const keys = authenticate();
  return async (c, next) => {
    const token = /^Bearer +(\S+) *$/i.exec(c.req.header("Authorization") ?? "")?.[1];
    const expected = c.env.METRICS_TOKEN;
    if (token && expected && expected.length >= MIN_ADMIN_KEY_LENGTH) {
      if (digestsEqual(await sha256Hex(token), await sha256Hex(expected))) {
        c.set("principal", METRICS_SCRAPER);
        return next();
      }
    }
    return keys(c, next);
  };
}

const route = protectedRoute("metrics:read", {
  method: "get",
  path: "/metrics",
  tags: ["monitoring"],
  summary: "Prometheus metrics: gauges from the database, counters from Analytics Engine",
  description:
    "Bearer METRICS_TOKEN (a read-only scrape token) or an admin API key. Counters appear when CF_ACCOUNT_ID and CF_ANALYTICS_API_TOKEN are configured; otherwise a comment line says so.",
  responses: {
    200: {
      description: "Prometheus text exposition format 0.0.4",
      content: { "text/plain": { schema: PrometheusText } },
    },
  },
});

export const metricsRoutes = createRouter().openapi(route, async (c) => {
  const { families, comments } = await scrape(c.var.services);
  return c.body(renderPrometheus(families, comments), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
});
