// Monitoring on the wire: GET /health (service and database), GET /health/live (the worker alone) and
// the Prometheus scrape of GET /metrics.
import { z } from "@hono/zod-openapi";

export const HealthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    database: z.object({
      ok: z.boolean(),
      latency_ms: z.number(),
      error: z.string().optional().openapi({ description: "Why the database check failed (no secrets)." }),
    }),
    version: z.string(),
  })
  .openapi("Health");

export const LivenessSchema = z.object({ status: z.literal("ok"), version: z.string() }).openapi("Liveness");

/** The Prometheus text exposition format (lib/prometheus.ts renders it). */
export const PrometheusText = z.string();
