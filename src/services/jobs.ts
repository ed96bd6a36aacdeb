// Background jobs' operator switches (escalation, webhook delivery): persisted in job_controls,
// audited with actor and reason, read with the last run's summary.
import { z } from "zod";
import { readJobControl, setJobPaused } from "../db/escalation.ts";
import type { JobControlRow } from "../db/schema.ts";
import type { Principal } from "../domain/access.ts";
import type { ServiceContext } from "./context.ts";

/**
 * A job's switch and its last run, as operators read it: the one definition (src/schemas/operations.ts
 * publishes it as JobStatus).
 */
export const JobStatus = z.object({
  paused: z.boolean(),
  reason: z.string().nullable().meta({ description: "Why it was last paused or resumed" }),
  changed_by: z.string().nullable(),
  changed_at: z.string().nullable(),
  last_run: z
    .record(z.string(), z.unknown())
    .nullable()
    .meta({ description: "Summary of the last run (jobs that record one)" }),
  last_run_at: z.string().nullable(),
});
export type JobStatus = z.infer<typeof JobStatus>;

function toStatus(row: JobControlRow): JobStatus {
  return {
    paused: row.paused,
    reason: row.reason,
    changed_by: row.changedBy,
    changed_at: row.changedAt?.toISOString() ?? null,
    last_run: row.lastRun,
    last_run_at: row.lastRunAt?.toISOString() ?? null,
  };
}

export async function jobStatus(ctx: ServiceContext, job: string): Promise<JobStatus> {
  return toStatus(await readJobControl(ctx.db, job));
}

export async function isPaused(ctx: ServiceContext, job: string): Promise<boolean> {
  return (await readJobControl(ctx.db, job)).paused;
}

/** Pauses or resumes a job: persisted, audited (actor, key, reason, request id) and logged. */
export async function setJobSwitch(
  ctx: ServiceContext,
  principal: Principal,
  job: string,
  paused: boolean,
  reason: string,
): Promise<JobStatus> {
  const row = await setJobPaused(ctx.db, job, {
    paused,
    reason,
    actor: principal.principalId,
    actorKeyId: principal.keyId,
    requestId: ctx.requestId,
  });
  ctx.log.warn(`${job}_${paused ? "paused" : "resumed"}`, { by: principal.principalId, reason });
  return toStatus(row);
}
