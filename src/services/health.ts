// The database check behind GET /health: answers promptly even when the database hangs.
import { z } from "zod";
import { createSql, DatabaseNotConfiguredError } from "../db/client.ts";
import { isDatabaseUnavailable, isTimeout, sqlState } from "../db/errors.ts";
import type { ServiceContext } from "./context.ts";

export const HEALTH_DB_TIMEOUT_MS = 2000;

/** The database check's answer: the one definition (src/schemas/monitoring.ts puts it in Health). */
export const DatabaseHealth = z.object({
  ok: z.boolean(),
  latency_ms: z.number(),
  error: z.string().optional().meta({ description: "Why the database check failed (no secrets)." }),
});
export type DatabaseHealth = z.infer<typeof DatabaseHealth>;

export async function checkDatabase(ctx: ServiceContext): Promise<DatabaseHealth> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    await createSql(ctx.env).query("SELECT 1", [], {
      fetchOptions: { signal: AbortSignal.timeout(HEALTH_DB_TIMEOUT_MS) },
    });
    return { ok: true, latency_ms: elapsed() };
  } catch (error) {
    const reason = describeDatabaseFailure(error);
    ctx.log.warn("health_database_failed", { reason, error });
    return { ok: false, latency_ms: elapsed(), error: reason };
  }
}

function describeDatabaseFailure(error: unknown): string {
  if (error instanceof DatabaseNotConfiguredError) return "database not configured: DATABASE_URL is not set";
  if (isTimeout(error)) return `database did not answer within ${HEALTH_DB_TIMEOUT_MS} ms`;
  if (isDatabaseUnavailable(error)) return "database unreachable";
  const state = sqlState(error);
  return state ? `database query failed (SQLSTATE ${state})` : "database check failed";
}
