// Operations: background jobs' pause switches and last runs, and what emergency operations changed
// (so a restore puts it back).
import { sql } from "drizzle-orm";
import { bigserial, boolean, index, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { timestamptz } from "./columns.ts";

/** Operator switches and the last run of each background job (one row per job, e.g. "escalation"). */
export const jobControls = pgTable("job_controls", {
  job: text("job").primaryKey(),
  paused: boolean("paused").notNull().default(false),
  /** Why it was paused or resumed, by whom and when (also in audit_events). */
  reason: text("reason"),
  changedBy: text("changed_by"),
  changedAt: timestamptz("changed_at"),
  /** The summary of the last run (the JSON line the run logged). */
  lastRun: jsonb("last_run").$type<Record<string, unknown>>(),
  lastRunAt: timestamptz("last_run_at"),
});

/**
 * Emergency operations that change policy in bulk keep what they changed here, so a restore puts it
 * back exactly (e.g. disable auto-approve: each row's previous approval level).
 */
export const emergencySnapshots = pgTable(
  "emergency_snapshots",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    operation: text("operation").notNull(),
    reason: text("reason").notNull(),
    takenBy: text("taken_by").notNull(),
    takenAt: timestamptz("taken_at").notNull().defaultNow(),
    /** What to put back: for disable_auto_approve, [{id, approval_level}]. */
    data: jsonb("data").$type<{ id: number; approval_level: string }[]>().notNull(),
    restoredBy: text("restored_by"),
    restoredAt: timestamptz("restored_at"),
  },
  (table) => [
    index("emergency_snapshots_open_idx")
      .on(table.operation, table.id)
      .where(sql`${table.restoredAt} IS NULL`),
  ],
);

export type JobControlRow = typeof jobControls.$inferSelect;
