// Operator controls on the wire: the switch of a background job (escalation, webhook delivery), the
// reason every audited operator action carries, an escalation run's summary, and the runbook's
// emergency procedures and database statistics (/api/v1/admin/escalation, /emergency, /stats).
import { z } from "@hono/zod-openapi";

export const JobStatusSchema = z
  .object({
    paused: z.boolean(),
    reason: z.string().nullable().openapi({ description: "Why it was last paused or resumed" }),
    changed_by: z.string().nullable(),
    changed_at: z.string().nullable(),
    last_run: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: "Summary of the last run (jobs that record one)" }),
    last_run_at: z.string().nullable(),
  })
  .openapi("JobStatus");

export const ReasonBody = z
  .object({
    reason: z.string().min(1).max(500).openapi({ description: "Recorded with the actor in the audit trail" }),
  })
  .strict()
  .openapi("OperatorReason");

export const EscalationRunSchema = z
  .object({
    job: z.literal("escalation"),
    trigger: z.enum(["cron", "manual", "cli"]),
    now: z.string(),
    paused: z.boolean().openapi({ description: "True when the run skipped because the job is paused" }),
    expired: z.number().int(),
    escalated: z.number().int(),
    batches: z.number().int(),
    duration_ms: z.number().int(),
    cut_short: z.boolean().openapi({ description: "The time budget ran out; the next run continues" }),
  })
  .openapi("EscalationRun");

const LevelRow = z.object({ id: z.number().int(), approval_level: z.string() });

export const AutoApproveDisabledSchema = z
  .object({ snapshot_id: z.number().int(), changed: z.array(LevelRow) })
  .openapi("AutoApproveDisabled");

export const AutoApproveRestoredSchema = z
  .object({ snapshot_id: z.number().int(), restored: z.array(LevelRow) })
  .openapi("AutoApproveRestored");

export const StatsQuery = z.object({ recent: z.coerce.number().int().min(1).max(100).default(10) });

export const DatabaseStatsSchema = z
  .object({
    status_distribution: z.record(z.string(), z.number()),
    recent_requests: z.array(z.record(z.string(), z.unknown())),
    table_size: z.string(),
    indexes: z.array(z.string()),
  })
  .openapi("DatabaseStats");
