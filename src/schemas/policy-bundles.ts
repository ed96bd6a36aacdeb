// A policy bundle on the wire (src/domain/policy-bundle.ts): the rows of each kind are exactly the
// admin policy API's fields (a bundle row is a row that could be saved), plus the bundle's format and
// scope. Whole-bundle rules (scope, one row per key) come from the domain, each named by its path.
import { z } from "@hono/zod-openapi";
import { ALL_SCOPE, BUNDLE_FORMAT, bundleProblems, type PolicyBundle } from "../domain/policy-bundle.ts";
import { Identifier } from "./common.ts";
import {
  ApprovalLevelFields,
  BudgetFields,
  CapabilityRuleFields,
  SettingsFields,
  SkillCostFields,
} from "./policies.ts";

/** A bundle's scope: a tenant id, or `*` for the whole policy set. */
export const BundleScope = z.union([z.literal(ALL_SCOPE), Identifier]).openapi({
  description:
    'A tenant id (its approval levels, capability rules and budgets), or "*": the whole policy set',
});

export const PolicyBundleSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT).openapi({ description: `Always "${BUNDLE_FORMAT}"` }),
    scope: BundleScope,
    settings: SettingsFields.strict().optional(),
    skill_costs: z.array(SkillCostFields.strict()).max(2000).optional(),
    approval_levels: z.array(ApprovalLevelFields.strict()).max(2000).optional(),
    capability_rules: z.array(CapabilityRuleFields.strict()).max(5000).optional(),
    budgets: z.array(BudgetFields.strict()).max(2000).optional(),
  })
  .strict()
  .superRefine((bundle, ctx) => {
    for (const problem of bundleProblems(bundle)) {
      ctx.addIssue({
        code: "custom",
        message: problem.message,
        path: problem.path
          .split(/[.[\]]+/)
          .filter(Boolean)
          .map(segment),
      });
    }
  })
  .openapi("PolicyBundle", {
    description:
      "One scope's whole policy as data. A section left out is left as it is; a section given replaces every row of its kind in the scope.",
  });

/** A path segment: array indexes as numbers, as zod reports them. */
function segment(part: string): string | number {
  return /^[0-9]+$/.test(part) ? Number(part) : part;
}

export type PolicyBundleWire = z.infer<typeof PolicyBundleSchema>;

/** A parsed bundle as the domain takes it (the parse already applied every default). */
export function bundleFromWire(wire: PolicyBundleWire): PolicyBundle {
  return wire;
}
