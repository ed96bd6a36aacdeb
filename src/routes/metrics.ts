// GET /metrics: the Prometheus scrape (text exposition format). Scrapers authenticate with the
// METRICS_TOKEN secret (read-only: it opens this route and nothing else; middleware/authenticate.ts)
// or an admin API key.
import { createRouter } from "../lib/openapi.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../lib/prometheus.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { PrometheusText } from "../schemas/monitoring.ts";
import { scrape } from "../services/metrics.ts";

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
