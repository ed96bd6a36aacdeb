// Monitoring on the wire: GET /health (service and database), GET /health/live (the worker alone) and
// the Prometheus scrape of GET /metrics.
import { z } from "@hono/zod-openapi";
import { DatabaseHealth } from "../services/health.ts";

export const HealthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    database: z.object(DatabaseHealth.shape),
    version: z.string(),
  })
  .openapi("Health");

export const LivenessSchema = z.object({ status: z.literal("ok"), version: z.string() }).openapi("Liveness");

/** The Prometheus text exposition format (lib/prometheus.ts renders it). */
export const PrometheusText = z.string();
