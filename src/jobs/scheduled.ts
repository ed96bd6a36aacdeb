// The Cron Trigger (`* * * * *`, wrangler.toml [triggers]): each minute, expiry and escalation, the
// sweep of deliveries the queue never got, notification reminders (and plans a crash left unplanned),
// the audit chain's signed checkpoints, and the purges of ended console sessions and of expired view
// tokens' uses. Only escalation decides whether the invocation failed; the others log their own failures.
import type { Bindings } from "../env.ts";
import { writeCheckpoints } from "../services/audit-checkpoints.ts";
import { purgeEndedSessions } from "../services/console-sessions.ts";
import { runEscalation } from "../services/escalation.ts";
import { runNotifications } from "../services/notifications/planner.ts";
import { purgeExpiredViewTokenUses } from "../services/view-links.ts";
import { sweepDeliveries } from "../services/webhooks/outbox.ts";
import { jobContext } from "./context.ts";

/**
 * One minute's run. The job clock is the later of now and the trigger's scheduled time (tests schedule
 * a run in the future to move the clock).
 */
export async function runScheduled(
  controller: ScheduledController,
  env: Bindings,
  ctx: ExecutionContext,
): Promise<void> {
  const { services, log, metrics } = jobContext(env, ctx, "escalation");
  const now = new Date(Math.max(Date.now(), controller.scheduledTime));
  // The deliveries the queue never got (a failed send, a crash before the enqueue): a failure here is
  // the sweep's own, and must not stop or be taken for the escalation run.
  ctx.waitUntil(
    sweepDeliveries(services, now).catch((error: unknown) => log.error("webhook_sweep_failed", { error })),
  );
  // Reminders due before deadlines, and notification plans a crash left unplanned: likewise their own.
  ctx.waitUntil(
    runNotifications(services, now).catch((error: unknown) =>
      log.error("notification_run_failed", { error }),
    ),
  );
  // The audit chain's signed checkpoints, beside escalation: their own failure is logged here and
  // never stops, fails or is taken for the escalation run.
  ctx.waitUntil(
    writeCheckpoints(services, now).catch((error: unknown) =>
      log.error("audit_checkpoints_failed", { error }),
    ),
  );
  // Ended console sessions, a bounded batch a minute: their own failure is logged here and never
  // stops, fails or is taken for the escalation run.
  ctx.waitUntil(
    purgeEndedSessions(services).catch((error: unknown) =>
      log.error("console_sessions_purge_failed", { error }),
    ),
  );
  // The uses of view tokens expired a few minutes ago (view_token_uses), a few bounded statements a
  // minute: likewise logged apart.
  ctx.waitUntil(
    purgeExpiredViewTokenUses(services, now).catch((error: unknown) =>
      log.error("view_token_uses_purge_failed", { error }),
    ),
  );
  try {
    await runEscalation(services, { now, trigger: "cron" });
  } catch (error) {
    // Logged and counted here; rethrown so the platform records the failed invocation. Nothing is
    // lost: every batch committed on its own, and the next minute picks up what is left.
    log.error("escalation_run_failed", { cron: controller.cron, error });
    metrics.count("nova_escalation_runs_total", { outcome: "failed" });
    throw error;
  } finally {
    metrics.flush(env.METRICS, log);
  }
}
