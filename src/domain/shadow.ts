// Shadow mode (issue 29): what a call would have been judged by with a candidate bundle in force, built
// from the live state the call already read plus the candidate's rows, so the hot path never reads the
// whole live policy set. Pure: no I/O. Equal to stateForCall(withBundle(live set, bundle), call, spend)
// (src/domain/policy-bundle.ts); the worker tests check that equality on generated cases.
import type { EvaluationInput, PolicyState } from "./evaluation.ts";
import { ALL_SCOPE, type FullPolicySet, type PolicyBundle, stateForCall } from "./policy-bundle.ts";

/** Which candidate shadows a call's scope and at which revision: read with the live policy. */
export interface ShadowMarker {
  candidateId: string;
  /** The candidate row's updated_at as the database prints it: a new revision, a new cache entry. */
  revision: string;
}

/** The shadowing candidate, as loaded once per (id, revision) per isolate. */
export interface ShadowCandidate extends ShadowMarker {
  bundle: PolicyBundle;
}

const NO_ROWS: FullPolicySet = {
  settings: { capability_default_effect: "allow", unknown_skill_cost_cents: 0 },
  skill_costs: [],
  approval_levels: [],
  capability_rules: [],
  budgets: [],
};

/**
 * The state `call` is judged by with `bundle` in force: each section the bundle holds replaces the
 * live rows of its scope (for a tenant scope, that tenant's rows; for `*`, all of them); the rest of
 * the live state stays. Throws on a malformed bundle (a row section that is not a list): the caller
 * counts that and answers live.
 */
export function shadowState(
  live: PolicyState,
  bundle: PolicyBundle,
  call: Pick<EvaluationInput, "tenantId" | "skillId" | "policyType">,
): PolicyState {
  for (const section of ["approval_levels", "capability_rules", "budgets", "skill_costs"] as const) {
    const rows = bundle[section];
    if (rows !== undefined && !Array.isArray(rows)) throw new TypeError(`bundle ${section} is not a list`);
  }
  // The candidate's own rows, filtered exactly as an evaluation reads them.
  const proposed = stateForCall(
    {
      settings: bundle.settings ?? NO_ROWS.settings,
      skill_costs: bundle.skill_costs ?? [],
      approval_levels: bundle.approval_levels ?? [],
      capability_rules: bundle.capability_rules ?? [],
      budgets: bundle.budgets ?? [],
    },
    call,
    live.spend,
  );
  const all = bundle.scope === ALL_SCOPE;
  // Outside the scope: for `*` nothing; for a tenant, the rows of no tenant (global approval levels).
  const outside = <Row extends { tenantId: string | null }>(rows: Row[]) =>
    all ? [] : rows.filter((row) => row.tenantId !== bundle.scope);
  return {
    approvalLevels: bundle.approval_levels
      ? [...outside(live.approvalLevels), ...proposed.approvalLevels]
      : live.approvalLevels,
    capabilityRules: bundle.capability_rules
      ? [...outside(live.capabilityRules), ...proposed.capabilityRules]
      : live.capabilityRules,
    budgets: bundle.budgets ? [...outside(live.budgets), ...proposed.budgets] : live.budgets,
    // Skill costs and settings are only ever in a `*` bundle, which replaces them whole.
    skillCosts: bundle.skill_costs && all ? proposed.skillCosts : live.skillCosts,
    settings: bundle.settings && all ? proposed.settings : live.settings,
    spend: live.spend,
  };
}
