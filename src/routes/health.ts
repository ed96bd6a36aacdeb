// GET /health: no auth. 200 when the database answers a trivial query, 503 (with the reason) when not.
// GET /health/live: no auth, touches nothing: the worker answers (a liveness check that never wakes
// the database, and the benchmark's runtime floor).
import { createRoute } from "@hono/zod-openapi";
import { createRouter } from "../lib/openapi.ts";
import { HealthSchema, LivenessSchema } from "../schemas/monitoring.ts";
import { checkDatabase } from "../services/health.ts";

const route = createRoute({
  method: "get",
  path: "/health",
  tags: ["health"],
  summary: "Service and database health",
  responses: {
    200: {
      description: "Service and database are up",
      content: { "application/json": { schema: HealthSchema } },
    },
    503: {
      description: "The database does not answer",
      content: { "application/json": { schema: HealthSchema } },
    },
  },
});

const liveRoute = createRoute({
  method: "get",
  path: "/health/live",
  tags: ["health"],
  summary: "Liveness: the worker answers, without touching the database",
  responses: {
    200: {
      description: "The worker runs",
      content: {
        "application/json": {
          schema: LivenessSchema,
        },
      },
    },
  },
});

export const healthRoutes = createRouter()
  .openapi(liveRoute, (c) => c.json({ status: "ok" as const, version: c.env.SERVICE_VERSION }, 200))
  .openapi(route, async (c) => {
    const database = await checkDatabase(c.var.services);
    return c.json(
      {
        status: database.ok ? ("ok" as const) : ("degraded" as const),
        database,
        version: c.env.SERVICE_VERSION,
      },
      database.ok ? 200 : 503,
    );
  });
