// GET /health: no auth. 200 when the database answers a trivial query, 503 (with the reason) when not.
import { createRoute, z } from "@hono/zod-openapi";
import { createSql, DatabaseNotConfiguredError } from "../db/client.ts";
import { isDatabaseUnavailable, isTimeout, sqlState } from "../db/errors.ts";
import { createRouter } from "../lib/openapi.ts";

/** Health must answer promptly even when the database hangs. */
export const HEALTH_DB_TIMEOUT_MS = 2000;

const HealthSchema = z
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

export const healthRoutes = createRouter().openapi(route, async (c) => {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const sql = createSql(c.env);
    await sql.query("SELECT 1", [], { fetchOptions: { signal: AbortSignal.timeout(HEALTH_DB_TIMEOUT_MS) } });
    return c.json(
      {
        status: "ok" as const,
        database: { ok: true, latency_ms: elapsed() },
        version: c.env.SERVICE_VERSION,
      },
      200,
    );
  } catch (error) {
    const reason = describeDatabaseFailure(error);
    c.var.log.warn("health_database_failed", { reason, error });
    return c.json(
      {
        status: "degraded" as const,
        database: { ok: false, latency_ms: elapsed(), error: reason },
        version: c.env.SERVICE_VERSION,
      },
      503,
    );
  }
});

function describeDatabaseFailure(error: unknown): string {
  if (error instanceof DatabaseNotConfiguredError) return "database not configured: DATABASE_URL is not set";
  if (isTimeout(error)) {
    return `database did not answer within ${HEALTH_DB_TIMEOUT_MS} ms`;
  }
  if (isDatabaseUnavailable(error)) return "database unreachable";
  const state = sqlState(error);
  return state ? `database query failed (SQLSTATE ${state})` : "database check failed";
}
