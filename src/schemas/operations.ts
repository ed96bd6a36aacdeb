// Operator controls on the wire: the switch of a background job (escalation, webhook delivery), the
// reason every audited operator action carries, an escalation run's summary, and the runbook's
// emergency procedures and database statistics (/api/v1/admin/escalation, /emergency, /stats).
import { z } from "@hono/zod-openapi";
import { EscalationRunSummary } from "../services/escalation.ts";
import { JobStatus } from "../services/jobs.ts";

// The services' result schemas are re-wrapped (z.object(shape)), not extended: they may be built before
// @hono/zod-openapi adds `.openapi` to zod, and zod gives methods only to schemas built after that.

/** A job's switch and last run: the service's one definition, published under its OpenAPI name. */
export const JobStatusSchema = z.object(JobStatus.shape).openapi("JobStatus");

export const ReasonBody = z
  .object({
    reason: z.string().min(1).max(500).openapi({ description: "Recorded with the actor in the audit trail" }),
  })
  .strict()
  .openapi("OperatorReason");

/** An escalation run's summary: the service's one definition, published under its OpenAPI name. */
export const EscalationRunSchema = z.object(EscalationRunSummary.shape).openapi("EscalationRun");

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
