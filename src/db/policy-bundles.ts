// The whole live policy set as bundle rows (src/domain/policy-bundle.ts), read in one statement (one
// snapshot): every approval level, capability rule, budget and skill cost, the settings and the
// policy-set version. Policy tables are small (hundreds of rows), so plans and shadows read them whole.
import { sql } from "drizzle-orm";
import type {
  BundleApprovalLevel,
  BundleBudget,
  BundleCapabilityRule,
  BundleSkillCost,
  FullPolicySet,
} from "../domain/policy-bundle.ts";
import type { Database, TransactionDatabase } from "./client.ts";
import {
  budgets,
  capabilityRules,
  policyApprovalLevels,
  policySettings,
  policySetVersion,
  skillCosts,
} from "./schema.ts";

export interface LivePolicySet {
  set: FullPolicySet;
  /** The policy-set version this snapshot is. */
  version: number;
}

/** A json_agg column: parsed by the driver, or still text. */
function rowsOf(value: unknown): Record<string, unknown>[] {
  if (value === null || value === undefined) return [];
  return (typeof value === "string" ? JSON.parse(value) : value) as Record<string, unknown>[];
}

/** Either database handle: the HTTP one, or an interactive transaction (src/db/policy-bundle-apply.ts). */
type Executor = Pick<Database, "execute"> | Pick<TransactionDatabase, "execute">;

export async function loadLivePolicySet(db: Executor): Promise<LivePolicySet> {
  const all = (fields: string, table: unknown) =>
    sql`(SELECT coalesce(json_agg(json_build_object(${sql.raw(fields)})), '[]') FROM ${table})`;
  const result = await db.execute(sql`SELECT
    ${all(
      `'policy_type', policy_type, 'tenant_id', tenant_id, 'agent_id', agent_id, 'skill_id', skill_id,
       'approval_level', approval_level, 'auto_approve_max_cost_cents', auto_approve_max_cost_cents,
       'auto_approve_max_tokens', auto_approve_max_tokens, 'escalate_to', escalate_to,
       'escalation_timeout_seconds', escalation_timeout_seconds, 'escalation_chain', escalation_chain,
       'required_approvals', required_approvals, 'enabled', enabled`,
      policyApprovalLevels,
    )} AS levels,
    ${all(
      `'tenant_id', tenant_id, 'agent_id', agent_id, 'skill_pattern', skill_pattern, 'effect', effect,
       'approval_level', approval_level, 'description', description, 'enabled', enabled`,
      capabilityRules,
    )} AS rules,
    ${all(
      `'tenant_id', tenant_id, 'agent_id', agent_id, 'period', period, 'limit_cents', limit_cents,
       'enforcement', enforcement, 'enabled', enabled`,
      budgets,
    )} AS budgets,
    ${all(
      `'skill_id', skill_id, 'base_cents', base_cents, 'cents_per_1k_tokens', cents_per_1k_tokens,
       'description', description`,
      skillCosts,
    )} AS costs,
    (SELECT row_to_json(x) FROM (
      SELECT ps.capability_default_effect, ps.unknown_skill_cost_cents, v.version
      FROM ${policySettings} ps CROSS JOIN ${policySetVersion} v) x) AS settings`);
  const [raw] = result.rows as Record<string, unknown>[];
  const settingsValue = raw?.settings;
  const settings = (typeof settingsValue === "string" ? JSON.parse(settingsValue) : settingsValue) as Record<
    string,
    unknown
  > | null;
  if (!raw || !settings)
    throw new Error("policy_settings / policy_set_version rows are missing: run the migrations");
  return {
    set: {
      settings: {
        capability_default_effect:
          settings.capability_default_effect as FullPolicySet["settings"]["capability_default_effect"],
        unknown_skill_cost_cents: Number(settings.unknown_skill_cost_cents),
      },
      approval_levels: rowsOf(raw.levels) as unknown as BundleApprovalLevel[],
      capability_rules: rowsOf(raw.rules) as unknown as BundleCapabilityRule[],
      // bigint limit_cents comes back as a number from json_build_object.
      budgets: rowsOf(raw.budgets).map((row) => ({
        ...row,
        limit_cents: Number(row.limit_cents),
      })) as unknown as BundleBudget[],
      skill_costs: rowsOf(raw.costs) as unknown as BundleSkillCost[],
    },
    version: Number(settings.version),
  };
}
