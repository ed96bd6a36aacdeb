// The escalation job: every minute (the Cron Trigger), and on demand (admin API, npm run escalate).
// It expires open requests past expires_at, then walks escalation chains whose deadline passed, in
// bounded batches, oldest deadline first, through the one transition path (history, outbox event,
// metrics). Batches lock their rows with SKIP LOCKED, so overlapping runs never take the same request;
// a run stops at its time budget and the next minute picks up the rest. The clock is a parameter.
import { z } from "zod";
import {
  dueForEscalation,
  dueForExpiry,
  ESCALATION_REASON,
  escalationStep,
  readJobControl,
  recordJobRun,
} from "../db/escalation.ts";
import type { Principal } from "../domain/access.ts";
import { WEBHOOK_EVENTS } from "../domain/vocabulary.ts";
import { transition } from "./approval-requests.ts";
import type { ServiceContext } from "./context.ts";
import { type JobStatus, jobStatus, setJobSwitch } from "./jobs.ts";

export const ESCALATION_JOB = "escalation";
/** Who the history and events name for the job's changes. */
export const ESCALATION_ACTOR = "escalation_worker";

/**
 * What a run did: logged, kept as the job's last run, and the admin API's answer (the one definition;
 * src/schemas/operations.ts publishes it as EscalationRun).
 */
export const EscalationRunSummary = z.object({
  job: z.literal(ESCALATION_JOB),
  trigger: z.enum(["cron", "manual", "cli"]),
  /** The job clock of the run. */
  now: z.string(),
  paused: z.boolean().meta({ description: "True when the run skipped because the job is paused" }),
  expired: z.number().int(),
  escalated: z.number().int(),
  batches: z.number().int(),
  duration_ms: z.number().int(),
  cut_short: z.boolean().meta({ description: "The time budget ran out; the next run continues" }),
});
export type EscalationRunSummary = z.infer<typeof EscalationRunSummary>;

export interface EscalationOptions {
  /** The job's clock: what counts as overdue, and the time written into history. */
  now: Date;
  trigger: EscalationRunSummary["trigger"];
  /** Rows per statement (one round trip each). */
  batchSize?: number;
  /** Wall-clock budget; the run stops starting batches after it, well inside the Workers limits. */
  budgetMs?: number;
}

export const DEFAULT_BATCH_SIZE = 500;
export const DEFAULT_BUDGET_MS = 20_000;

export async function runEscalation(
  ctx: ServiceContext,
  options: EscalationOptions,
): Promise<EscalationRunSummary> {
  const started = performance.now();
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
  const summary: EscalationRunSummary = {
    job: ESCALATION_JOB,
    trigger: options.trigger,
    now: options.now.toISOString(),
    paused: false,
    expired: 0,
    escalated: 0,
    batches: 0,
    duration_ms: 0,
    cut_short: false,
  };
  const finish = (outcome: string) => {
    summary.duration_ms = Math.round(performance.now() - started);
    ctx.metrics.count("nova_escalation_runs_total", { outcome });
    ctx.log.info("escalation_run", { ...summary });
    return summary;
  };

  if ((await readJobControl(ctx.db, ESCALATION_JOB)).paused) {
    summary.paused = true;
    return finish("paused");
  }

  const overBudget = () => performance.now() - started > budgetMs;
  // Expiry first: a request overdue for both expires rather than escalating.
  for (const step of ["expire", "escalate"] as const) {
    for (;;) {
      if (overBudget()) {
        summary.cut_short = true;
        break;
      }
      const rows =
        step === "expire"
          ? await transition(ctx, {
              where: dueForExpiry(options.now, batchSize),
              toStatus: "expired",
              actor: ESCALATION_ACTOR,
              reason: "expired before a decision",
              event: WEBHOOK_EVENTS.expired,
              before: null,
              at: options.now,
            })
          : await transition(ctx, {
              where: dueForEscalation(options.now, batchSize),
              toStatus: "escalated",
              actor: ESCALATION_ACTOR,
              reason: ESCALATION_REASON,
              assignments: escalationStep(options.now),
              event: WEBHOOK_EVENTS.escalated,
              before: null,
              at: options.now,
            });
      summary.batches++;
      if (step === "expire") summary.expired += rows.length;
      else summary.escalated += rows.length;
      if (rows.length < batchSize) break;
    }
    if (summary.cut_short) break;
  }
  if (summary.escalated > 0) ctx.metrics.count("nova_approval_escalations_total", {}, summary.escalated);
  await recordJobRun(ctx.db, ESCALATION_JOB, {
    ...summary,
    duration_ms: Math.round(performance.now() - started),
  });
  return finish(summary.cut_short ? "cut_short" : "completed");
}

/** The escalation job's switch and last run. */
export function escalationStatus(ctx: ServiceContext): Promise<JobStatus> {
  return jobStatus(ctx, ESCALATION_JOB);
}

/** Pauses or resumes the job (persisted, audited with actor and reason); runs while paused skip. */
export function setEscalationPaused(
  ctx: ServiceContext,
  principal: Principal,
  paused: boolean,
  reason: string,
): Promise<JobStatus> {
  return setJobSwitch(ctx, principal, ESCALATION_JOB, paused, reason);
}
