// Policy bundles (issue 29): one scope's whole policy as data, the unit that is exported, validated,
// planned against traffic, shadowed and applied. Pure: no I/O.
//
// A scope is one tenant (its approval-level rows, capability rules and budgets) or `*`, the whole
// policy set (also the global approval-level rows, the skill costs and the settings, which every tenant
// shares, so only a `*` bundle may hold them). A section a bundle leaves out is left as it is; a section
// it holds replaces every row of that kind in its scope. Rows have no ids: each kind is keyed by the
// scope its table is unique on (an approval level by policy type, tenant, agent and skill, …), so
// applying a bundle updates rows in place, and exporting, then applying, changes nothing.
import { canonicalJson, sha256Hex } from "./encoding.ts";
import type { EvaluationInput, PolicyState, SpendToDate } from "./evaluation.ts";
import type {
  BudgetEnforcement,
  BudgetPeriod,
  CapabilityEffect,
  EscalationTier,
  PolicyType,
} from "./vocabulary.ts";

export const BUNDLE_FORMAT = "policy-bundle/v1";
/** The scope of the whole policy set. */
export const ALL_SCOPE = "*";

export interface BundleApprovalLevel {
  policy_type: PolicyType;
  tenant_id: string | null;
  agent_id: string | null;
  skill_id: string | null;
  approval_level: string;
  auto_approve_max_cost_cents: number;
  auto_approve_max_tokens: number;
  escalate_to: string | null;
  escalation_timeout_seconds: number;
  escalation_chain: EscalationTier[];
  required_approvals: number;
  enabled: boolean;
}

export interface BundleCapabilityRule {
  tenant_id: string;
  agent_id: string | null;
  skill_pattern: string;
  effect: CapabilityEffect;
  approval_level: string | null;
  description: string | null;
  enabled: boolean;
}

export interface BundleBudget {
  tenant_id: string;
  agent_id: string | null;
  period: BudgetPeriod;
  limit_cents: number;
  enforcement: BudgetEnforcement;
  enabled: boolean;
}

export interface BundleSkillCost {
  skill_id: string;
  base_cents: number;
  cents_per_1k_tokens: number;
  description: string | null;
}

export interface BundleSettings {
  capability_default_effect: CapabilityEffect;
  unknown_skill_cost_cents: number;
}

/** The sections of a bundle, each optional: one left out is not part of what the bundle says. */
export interface PolicySections {
  settings?: BundleSettings | undefined;
  skill_costs?: BundleSkillCost[] | undefined;
  approval_levels?: BundleApprovalLevel[] | undefined;
  capability_rules?: BundleCapabilityRule[] | undefined;
  budgets?: BundleBudget[] | undefined;
}

export interface PolicyBundle extends PolicySections {
  format: typeof BUNDLE_FORMAT;
  /** A tenant id, or `*` for the whole policy set. */
  scope: string;
}

/** The whole live policy set: every section present. */
export interface FullPolicySet {
  settings: BundleSettings;
  skill_costs: BundleSkillCost[];
  approval_levels: BundleApprovalLevel[];
  capability_rules: BundleCapabilityRule[];
  budgets: BundleBudget[];
}

export type SectionName = "skill_costs" | "approval_levels" | "capability_rules" | "budgets";
export const ROW_SECTIONS: SectionName[] = ["approval_levels", "capability_rules", "budgets", "skill_costs"];

type RowOf<S extends SectionName> = NonNullable<PolicySections[S]>[number];

/** The key each kind of row is unique on (its table's unique constraint), as one string. */
export const rowKey: { [S in SectionName]: (row: RowOf<S>) => string } = {
  approval_levels: (row) => keyOf([row.policy_type, row.tenant_id, row.agent_id, row.skill_id]),
  capability_rules: (row) => keyOf([row.tenant_id, row.agent_id, row.skill_pattern]),
  budgets: (row) => keyOf([row.tenant_id, row.agent_id, row.period]),
  skill_costs: (row) => keyOf([row.skill_id]),
};

function keyOf(parts: (string | null)[]): string {
  // JSON keeps null apart from any string, and no separator can collide.
  return JSON.stringify(parts);
}

/** The tenant a row belongs to (null: a global row, in the `*` scope only). */
function rowTenant<S extends SectionName>(section: S, row: RowOf<S>): string | null {
  return section === "skill_costs" ? null : (row as { tenant_id: string | null }).tenant_id;
}

/** Whether a row of `section` is in `scope`. */
export function inScope<S extends SectionName>(scope: string, section: S, row: RowOf<S>): boolean {
  return scope === ALL_SCOPE || rowTenant(section, row) === scope;
}

export interface BundleProblem {
  /** Where in the bundle, e.g. `capability_rules[3].tenant_id`. */
  path: string;
  message: string;
}

/**
 * What a well-formed bundle (each row already valid on its own) may still get wrong as a whole: rows
 * outside its scope, shared sections in a tenant bundle, two rows with one key.
 */
export function bundleProblems(bundle: PolicyBundle): BundleProblem[] {
  const problems: BundleProblem[] = [];
  if (bundle.scope !== ALL_SCOPE) {
    for (const section of ["settings", "skill_costs"] as const) {
      if (bundle[section] !== undefined) {
        problems.push({
          path: section,
          message: `${section} are shared by every tenant: only a bundle of scope "*" may hold them`,
        });
      }
    }
  }
  for (const section of ROW_SECTIONS) {
    const rows = (bundle[section] ?? []) as RowOf<typeof section>[];
    const seen = new Map<string, number>();
    rows.forEach((row, index) => {
      if (section !== "skill_costs" && !inScope(bundle.scope, section, row as never)) {
        const tenant = rowTenant(section, row as never);
        problems.push({
          path: `${section}[${index}].tenant_id`,
          message:
            tenant === null
              ? `a global row (tenant_id null) belongs to scope "*", not to tenant ${bundle.scope}`
              : `tenant ${tenant} is outside this bundle's scope (${bundle.scope})`,
        });
      }
      const key = rowKey[section](row as never);
      const first = seen.get(key);
      if (first === undefined) seen.set(key, index);
      else {
        problems.push({
          path: `${section}[${index}]`,
          message: `the same scope as ${section}[${first}]: one row per scope (${describeKey(section)})`,
        });
      }
    });
  }
  return problems;
}

function describeKey(section: SectionName): string {
  switch (section) {
    case "approval_levels":
      return "policy_type, tenant_id, agent_id, skill_id";
    case "capability_rules":
      return "tenant_id, agent_id, skill_pattern";
    case "budgets":
      return "tenant_id, agent_id, period";
    case "skill_costs":
      return "skill_id";
  }
}

/** Rows in a stable order (by key), so equal policies serialize equally. */
function sorted<S extends SectionName>(section: S, rows: RowOf<S>[]): RowOf<S>[] {
  const key = rowKey[section] as (row: RowOf<S>) => string;
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The scope's part of the live policy set, every section it may hold present: what export answers. */
export function exportScope(live: FullPolicySet, scope: string): PolicyBundle {
  const pick = <S extends SectionName>(section: S): RowOf<S>[] =>
    sorted(
      section,
      (live[section] as RowOf<S>[]).filter((row) => inScope(scope, section, row)),
    );
  return {
    format: BUNDLE_FORMAT,
    scope,
    ...(scope === ALL_SCOPE ? { settings: { ...live.settings }, skill_costs: pick("skill_costs") } : {}),
    approval_levels: pick("approval_levels"),
    capability_rules: pick("capability_rules"),
    budgets: pick("budgets"),
  };
}

/** A bundle with its rows in key order: the form that is stored and hashed. */
export function canonicalBundle(bundle: PolicyBundle): PolicyBundle {
  const out: PolicyBundle = { format: BUNDLE_FORMAT, scope: bundle.scope };
  if (bundle.settings) out.settings = { ...bundle.settings };
  for (const section of ROW_SECTIONS) {
    const rows = bundle[section] as RowOf<typeof section>[] | undefined;
    if (rows) (out as PolicySections)[section] = sorted(section, rows) as never;
  }
  return out;
}

/** SHA-256 (hex) of a bundle's canonical JSON: equal policies, equal hashes. */
export function bundleSha256(bundle: PolicyBundle): Promise<string> {
  return sha256Hex(canonicalJson(canonicalBundle(bundle)));
}

/**
 * The live policy set with the bundle in force: each section the bundle holds replaces that kind's
 * rows in the bundle's scope; everything else stays live. What plans and shadows evaluate against.
 */
export function withBundle(live: FullPolicySet, bundle: PolicyBundle): FullPolicySet {
  const replace = <S extends SectionName>(section: S): RowOf<S>[] => {
    const proposed = bundle[section] as RowOf<S>[] | undefined;
    const current = live[section] as RowOf<S>[];
    if (!proposed) return current;
    return [...current.filter((row) => !inScope(bundle.scope, section, row)), ...proposed];
  };
  return {
    settings: bundle.settings ? { ...bundle.settings } : live.settings,
    skill_costs: replace("skill_costs"),
    approval_levels: replace("approval_levels"),
    capability_rules: replace("capability_rules"),
    budgets: replace("budgets"),
  };
}

/**
 * What an evaluation of `call` reads from a whole policy set, as src/db/policy-state.ts reads it from
 * the tables (the same filters), with the spend to date it judged by.
 */
export function stateForCall(
  set: FullPolicySet,
  call: Pick<EvaluationInput, "tenantId" | "skillId" | "policyType">,
  spend: SpendToDate,
): PolicyState {
  return {
    approvalLevels: set.approval_levels
      .filter(
        (row) =>
          row.policy_type === call.policyType && (row.tenant_id === null || row.tenant_id === call.tenantId),
      )
      .map((row) => ({
        id: null,
        tenantId: row.tenant_id,
        agentId: row.agent_id,
        skillId: row.skill_id,
        approvalLevel: row.approval_level,
        autoApproveMaxCostCents: row.auto_approve_max_cost_cents,
        autoApproveMaxTokens: row.auto_approve_max_tokens,
        escalateTo: row.escalate_to,
        escalationTimeoutSeconds: row.escalation_timeout_seconds,
        escalationChain: row.escalation_chain,
        requiredApprovals: row.required_approvals,
        enabled: row.enabled,
      })),
    capabilityRules: set.capability_rules
      .filter((rule) => rule.tenant_id === call.tenantId)
      .map((rule) => ({
        id: null,
        tenantId: rule.tenant_id,
        agentId: rule.agent_id,
        skillPattern: rule.skill_pattern,
        effect: rule.effect,
        approvalLevel: rule.approval_level,
        enabled: rule.enabled,
      })),
    budgets: set.budgets
      .filter((budget) => budget.tenant_id === call.tenantId)
      .map((budget) => ({
        id: null,
        tenantId: budget.tenant_id,
        agentId: budget.agent_id,
        period: budget.period,
        limitCents: budget.limit_cents,
        enforcement: budget.enforcement,
        enabled: budget.enabled,
      })),
    skillCosts: set.skill_costs
      .filter((cost) => cost.skill_id === call.skillId)
      .map((cost) => ({
        skillId: cost.skill_id,
        baseCents: cost.base_cents,
        centsPer1kTokens: cost.cents_per_1k_tokens,
      })),
    settings: {
      capabilityDefaultEffect: set.settings.capability_default_effect,
      unknownSkillCostCents: set.settings.unknown_skill_cost_cents,
    },
    spend,
  };
}

export interface SectionDiff<Row> {
  added: Row[];
  removed: Row[];
  changed: { before: Row; after: Row }[];
}

export type BundleDiff = { [S in SectionName]: SectionDiff<RowOf<S>> } & {
  settings: { before: BundleSettings; after: BundleSettings } | null;
};

/** What applying `bundle` to `live` would change, row by row (keys decide which rows are the same). */
export function diffBundle(live: FullPolicySet, bundle: PolicyBundle): BundleDiff {
  const after = withBundle(live, bundle);
  const section = <S extends SectionName>(name: S): SectionDiff<RowOf<S>> => {
    const key = rowKey[name] as (row: RowOf<S>) => string;
    const inside = (rows: RowOf<S>[]) =>
      new Map(rows.filter((row) => inScope(bundle.scope, name, row)).map((row) => [key(row), row]));
    const before = inside(live[name] as RowOf<S>[]);
    const next = inside(after[name] as RowOf<S>[]);
    const diff: SectionDiff<RowOf<S>> = { added: [], removed: [], changed: [] };
    for (const [k, row] of next) {
      const old = before.get(k);
      if (!old) diff.added.push(row);
      else if (canonicalJson(old) !== canonicalJson(row)) diff.changed.push({ before: old, after: row });
    }
    for (const [k, row] of before) if (!next.has(k)) diff.removed.push(row);
    return diff;
  };
  const settingsChanged = canonicalJson(live.settings) !== canonicalJson(after.settings);
  return {
    settings: settingsChanged ? { before: live.settings, after: after.settings } : null,
    skill_costs: section("skill_costs"),
    approval_levels: section("approval_levels"),
    capability_rules: section("capability_rules"),
    budgets: section("budgets"),
  };
}

/** Whether a diff changes nothing. */
export function diffIsEmpty(diff: BundleDiff): boolean {
  return (
    diff.settings === null &&
    ROW_SECTIONS.every((name) => {
      const d = diff[name];
      return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
    })
  );
}
