// A plan on the wire (POST /api/v1/admin/policies/bundle/plan): the bundle, the window and the bounds
// in; the replay's counts, groups and examples out (src/domain/policy-plan.ts). The window is checked
// here, so a bad one is a 400 naming its field like any other.
import { z } from "@hono/zod-openapi";
import { CHANGE_KINDS, SKIP_REASONS } from "../domain/policy-plan.ts";
import { parseTimestamp } from "../domain/timestamps.ts";
import { DECISIONS } from "../domain/vocabulary.ts";
import { PLAN_LIMITS, type PlanCommand } from "../services/policy-plans.ts";
import { IsoDateTime } from "./common.ts";
import { bundleFromWire, PolicyBundleSchema } from "./policy-bundles.ts";

export const PlanRequestSchema = z
  .object({
    bundle: PolicyBundleSchema,
    since: IsoDateTime.optional().openapi({
      description: "Start of the window (inclusive); default: 7 days before `until`",
    }),
    until: IsoDateTime.optional().openapi({ description: "End of the window (exclusive); default: now" }),
    sample: z
      .number()
      .int()
      .min(1)
      .max(PLAN_LIMITS.sample.max)
      .default(PLAN_LIMITS.sample.default)
      .openapi({ description: "At most this many decisions, the window's newest" }),
    examples_per_group: z
      .number()
      .int()
      .min(0)
      .max(PLAN_LIMITS.examplesPerGroup.max)
      .default(PLAN_LIMITS.examplesPerGroup.default)
      .openapi({ description: "Example decisions kept per tenant, skill and kind of change" }),
    time_limit_ms: z
      .number()
      .int()
      .min(PLAN_LIMITS.timeLimitMs.min)
      .max(PLAN_LIMITS.timeLimitMs.max)
      .default(PLAN_LIMITS.timeLimitMs.default)
      .openapi({ description: "Wall time for the replay; past it the answer says truncated: true" }),
  })
  .strict()
  .superRefine((body, ctx) => {
    const since = body.since === undefined ? undefined : parseTimestamp(body.since);
    const until = body.until === undefined ? undefined : parseTimestamp(body.until);
    if (since && until && since.getTime() >= until.getTime()) {
      ctx.addIssue({ code: "custom", path: ["since"], message: "must be before until" });
    }
    if (since && !until && since.getTime() >= Date.now()) {
      ctx.addIssue({ code: "custom", path: ["since"], message: "must be in the past (until is now)" });
    }
  })
  .openapi("PolicyPlanRequest");

export type PlanRequest = z.infer<typeof PlanRequestSchema>;

/** The service's command for a parsed body: the window's defaults filled in. */
export function toPlanCommand(body: PlanRequest, now: Date = new Date()): PlanCommand {
  const until = body.until === undefined ? now : (parseTimestamp(body.until) ?? now);
  const since =
    body.since === undefined
      ? new Date(until.getTime() - PLAN_LIMITS.defaultWindowMs)
      : (parseTimestamp(body.since) ?? until);
  return {
    bundle: bundleFromWire(body.bundle),
    since,
    until,
    sample: body.sample,
    examplesPerGroup: body.examples_per_group,
    timeLimitMs: body.time_limit_ms,
  };
}

const Answer = z.object({
  decision: z.enum(DECISIONS),
  approval_level_required: z.number().int(),
});

const ChangeKind = z.enum(CHANGE_KINDS);
const countsOf = <const K extends readonly [string, ...string[]]>(keys: K) =>
  z.object(Object.fromEntries(keys.map((key) => [key, z.number().int()])) as Record<K[number], z.ZodNumber>);

export const PlanReportSchema = z
  .object({
    scope: z.string(),
    base_sha256: z.string().openapi({ description: "The live scope's hash: apply's expected_base_sha256" }),
    bundle_sha256: z.string(),
    window: z.object({ since: z.string(), until: z.string() }),
    sample: z.object({
      limit: z.number().int(),
      rows: z.number().int().openapi({ description: "Decisions read (the window's newest, up to limit)" }),
      limited: z.boolean().openapi({ description: "The window held more decisions than the limit" }),
    }),
    replayed: z.number().int(),
    skipped: countsOf(SKIP_REASONS).openapi({ description: "Decisions read but not replayed, by reason" }),
    drifted: z.number().int().openapi({
      description: "Replayed decisions whose logged answer the live policy no longer gives",
    }),
    changed: z.number().int().openapi({ description: "Replayed decisions the bundle answers differently" }),
    changes: z.array(
      z.object({
        tenant_id: z.string(),
        skill_id: z.string(),
        change: ChangeKind,
        count: z.number().int(),
        examples: z.array(
          z.object({
            decision_id: z.string(),
            agent_id: z.string().nullable(),
            created_at: z.string(),
            before: Answer,
            after: Answer.extend({ reasons: z.array(z.string()) }),
          }),
        ),
      }),
    ),
    totals: countsOf(CHANGE_KINDS),
    truncated: z
      .boolean()
      .openapi({ description: "The deadline came first: the counts cover part of the rows" }),
  })
  .openapi("PolicyPlan");
