// Plan a bundle against real traffic (issue 29): read the live policy set and the window's decision log
// (two statements), replay each row against the live policy and against the bundle in force
// (src/domain/policy-plan.ts), and report what would change. Read only: a plan changes nothing.
//
// Bounded twice: the sample limit bounds the rows read, and a wall-time deadline bounds the replay.
// The replay runs in chunks with a turn of the event loop between them, because a Worker's clock only
// moves at I/O: checked inside one synchronous loop, the deadline would never come.
import { loadLivePolicySet } from "../db/policy-bundles.ts";
import { readPlanDecisions } from "../db/policy-plans.ts";
import { bundleSha256, exportScope, type PolicyBundle } from "../domain/policy-bundle.ts";
import { type PlanReport, planTally, replayDecisions, startReplay } from "../domain/policy-plan.ts";
import type { ServiceContext } from "./context.ts";

export const PLAN_LIMITS = {
  sample: { default: 10_000, max: 50_000 },
  examplesPerGroup: { default: 3, max: 20 },
  timeLimitMs: { default: 10_000, min: 1, max: 25_000 },
  /** The window when none is given: the 7 days before `until`. */
  defaultWindowMs: 7 * 24 * 60 * 60 * 1000,
} as const;

/** Rows replayed between two looks at the clock. */
const CHUNK = 500;

export interface PlanCommand {
  bundle: PolicyBundle;
  since: Date;
  until: Date;
  sample: number;
  examplesPerGroup: number;
  timeLimitMs: number;
}

export async function planBundle(ctx: ServiceContext, command: PlanCommand): Promise<PlanReport> {
  const deadline = Date.now() + command.timeLimitMs;
  const [live, read] = await Promise.all([
    loadLivePolicySet(ctx.db),
    readPlanDecisions(ctx.db, {
      scope: command.bundle.scope,
      since: command.since,
      until: command.until,
      limit: command.sample,
    }),
  ]);
  const replay = startReplay(live.set, command.bundle, command.examplesPerGroup);
  let truncated = false;
  for (let start = 0; start < read.rows.length; start += CHUNK) {
    if (start > 0) await nextTurn();
    if (Date.now() >= deadline) {
      truncated = true;
      break;
    }
    replayDecisions(replay, read.rows.slice(start, start + CHUNK));
  }
  const [base, proposed] = await Promise.all([
    bundleSha256(exportScope(live.set, command.bundle.scope)),
    bundleSha256(command.bundle),
  ]);
  const tally = planTally(replay);
  ctx.annotate("policy_plan", {
    scope: command.bundle.scope,
    rows: read.rows.length,
    replayed: tally.replayed,
    changed: tally.changed,
    truncated,
  });
  return {
    scope: command.bundle.scope,
    base_sha256: base,
    bundle_sha256: proposed,
    window: { since: command.since.toISOString(), until: command.until.toISOString() },
    sample: { limit: command.sample, rows: read.rows.length, limited: read.limited },
    ...tally,
    truncated,
  };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
