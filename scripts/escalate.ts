// npm run escalate: one run of the escalation job from a shell (the runbook's "Manual run"), the same
// code the Cron Trigger runs (src/services/escalation.ts). Acts on DATABASE_URL when set (a Neon URL is
// reached through the same driver the worker uses; any other Postgres through a local Neon gateway of
// its own), otherwise on the embedded database of `npm run dev`, also through a gateway. Prints the run's summary; a paused job skips
// (exit 3), so an operator sees the switch instead of thinking the backlog is empty.
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext } from "../src/services/context.ts";
import { runEscalation } from "../src/services/escalation.ts";
import { runCli, UsageError } from "./lib/cli.ts";
import { needsLocalGateway, openDatabase } from "./lib/local-stack.ts";
import { migrateUp } from "./lib/migrations.ts";
import { startNeonGateway } from "./lib/neon-gateway.ts";

const USAGE = `usage: npm run escalate
  one run of the escalation job (expire, then escalate stale pending requests), as the cron runs it
  exit 0 done, 1 failed, 2 usage, 3 the job is paused (nothing done)

  Acts on DATABASE_URL when set, else on the embedded database of \`npm run dev\` (port EMBEDDED_PG_PORT,
  default 5433, or the running stack's, from .data/dev-stack.json).`;

await runCli({ name: "npm run escalate", usage: USAGE }, process.argv.slice(2), async (argv) => {
  if (argv.length > 0) throw new UsageError(`takes no arguments (got ${argv.join(" ")})`);
  const db = await openDatabase();
  let gateway: Awaited<ReturnType<typeof startNeonGateway>> | undefined;
  const pending: Promise<unknown>[] = [];
  try {
    // The embedded database is brought up to date as `npm run dev` would; a configured one never is.
    if (db.source !== "DATABASE_URL") await migrateUp(db.url);
    gateway = needsLocalGateway(db.url) ? await startNeonGateway({ port: 0 }) : undefined;
    const services = createServiceContext({
      env: { DATABASE_URL: db.url, NEON_LOCAL_GATEWAY: gateway?.url },
      log: createLogger("info", { job: "escalation" }),
      metrics: new MetricsBuffer(),
      waitUntil: (promise) => void pending.push(promise),
      requestId: `cli:${process.env.USER ?? "operator"}`,
    });
    const summary = await runEscalation(services, { now: new Date(), trigger: "cli" });
    await Promise.allSettled(pending);
    console.error(
      summary.paused
        ? "The escalation job is paused: nothing was done (GET /api/v1/admin/escalation says why)."
        : `Expired ${summary.expired}, escalated ${summary.escalated}${summary.cut_short ? " (cut short: run again)" : ""}.`,
    );
    return summary.paused ? 3 : 0;
  } finally {
    await gateway?.close();
    await db.close();
  }
});
