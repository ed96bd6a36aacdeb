// The gauges /metrics computes from Postgres at scrape time, in one statement (one round trip).
import { sql } from "drizzle-orm";
import type { Database } from "./client.ts";

export interface DatabaseGauges {
  pending: number;
  byStatus: Record<string, number>;
  /** Seconds since the oldest pending request was filed; null when none is pending. */
  oldestPendingAgeSeconds: number | null;
  deliveries: Record<string, number>;
  /** Job name → paused. */
  switches: Record<string, boolean>;
  /** Connections to this database by state (pg_stat_activity). */
  connections: Record<string, number>;
}

const asObject = <T>(value: unknown): Record<string, T> =>
  (typeof value === "string" ? JSON.parse(value) : (value ?? {})) as Record<string, T>;

export async function readGauges(db: Database): Promise<DatabaseGauges> {
  const result = await db.execute(sql`
    SELECT
      (SELECT count(*) FROM approval_requests WHERE status = 'pending') AS pending,
      (SELECT coalesce(json_object_agg(status, n), '{}') FROM
        (SELECT status, count(*) AS n FROM approval_requests GROUP BY status) s) AS by_status,
      (SELECT extract(epoch FROM now() - min(created_at)) FROM approval_requests WHERE status = 'pending') AS oldest,
      (SELECT coalesce(json_object_agg(status, n), '{}') FROM
        (SELECT status, count(*) AS n FROM webhook_outbox GROUP BY status) s) AS deliveries,
      (SELECT coalesce(json_object_agg(job, paused), '{}') FROM job_controls) AS switches,
      (SELECT coalesce(json_object_agg(state, n), '{}') FROM
        (SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() GROUP BY 1) s) AS connections`);
  const [row] = result.rows as Record<string, unknown>[];
  return {
    pending: Number(row?.pending ?? 0),
    byStatus: Object.fromEntries(
      Object.entries(asObject<unknown>(row?.by_status)).map(([k, v]) => [k, Number(v)]),
    ),
    oldestPendingAgeSeconds: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest),
    deliveries: Object.fromEntries(
      Object.entries(asObject<unknown>(row?.deliveries)).map(([k, v]) => [k, Number(v)]),
    ),
    switches: Object.fromEntries(
      Object.entries(asObject<unknown>(row?.switches)).map(([k, v]) => [k, v === true]),
    ),
    connections: Object.fromEntries(
      Object.entries(asObject<unknown>(row?.connections)).map(([k, v]) => [k, Number(v)]),
    ),
  };
}
