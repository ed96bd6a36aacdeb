// Reads everything an evaluation needs in one database round trip and one statement: approval levels,
// capability rules, budgets, spend to date, the skill's cost model, settings with the policy-set
// version.
import { and, eq, inArray, or, type Placeholder, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import type { EvaluationInput, PolicyState } from "../domain/evaluation.ts";
import type { ShadowMarker } from "../domain/shadow.ts";
import type { Database } from "./client.ts";
import { executeCompiled } from "./compiled.ts";
import { rowFromRaw } from "./raw.ts";
import {
  budgets,
  capabilityRules,
  policyApprovalLevels,
  policyCandidates,
  policySettings,
  policySetVersion,
  skillCosts,
  spendTotals,
} from "./schema.ts";

/** A value of a statement: given, or a placeholder bound when a compiled statement runs. */
export type Bindable = string | Placeholder;

export interface LoadedPolicyState extends PolicyState {
  version: number;
  /** When it was read: the spend figures in a judgment's explanation are as of then. */
  readAt: string;
  /** The candidate that shadows the call's tenant (issue 29), read in the same statement; null: none. */
  shadow: ShadowMarker | null;
}

/**
 * Which candidate shadows a tenant, at which revision, as one json column of the statements the hot path
 * already runs (no extra round trip): the tenant's own candidate wins over `*`. The partial unique index
 * keeps one per scope, and the policy_candidates_one_shadow_per_scope index answers it.
 */
function shadowMarkerColumn(tenantId: Bindable) {
  return sql`(SELECT json_build_object('id', c.id, 'revision', c.updated_at::text) FROM ${policyCandidates} c
    WHERE c.shadow AND c.scope IN (${tenantId}, '*') ORDER BY c.scope = '*' LIMIT 1)`;
}

function shadowFromRow(value: unknown): ShadowMarker | null {
  const marker = fromJson<{ id?: unknown; revision?: unknown } | null>(value, null);
  if (!marker || typeof marker.id !== "string" || typeof marker.revision !== "string") return null;
  return { candidateId: marker.id, revision: marker.revision };
}

// Period starts in UTC, computed by the database so every worker agrees on the boundary.
const DAY_START = sql`date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
const MONTH_START = sql`date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;

/** Column names of spendToDate's answer, by SpendToDate field. */
export const SPEND_COLUMNS = {
  tenantDay: "tenant_day",
  tenantMonth: "tenant_month",
  agentDay: "agent_day",
  agentMonth: "agent_month",
} as const;

/**
 * Spend to date of a call's tenant and agent, this UTC day and month, in one row: read with the
 * policy, and re-checked inside the statement that files a request (db/approval-requests.ts). Reads
 * the running totals the ledger's trigger keeps (at most four rows by primary key), so its cost does
 * not grow with the month's ledger.
 */
export function spendToDate(db: Database, call: Pick<EvaluationInput, "tenantId" | "agentId">) {
  return spendToDateOf(db, call.tenantId, call.agentId || null);
}

/** spendToDate with its values as given: strings, or placeholders of a compiled statement (db/compiled.ts). */
export function spendToDateOf(db: Database, tenantId: Bindable, agent: Bindable | null) {
  const total = (agentId: Bindable, period: "day" | "month") =>
    sql<string>`coalesce(sum(${spendTotals.amountCents}) FILTER (WHERE ${spendTotals.agentId} = ${agentId} AND ${spendTotals.period} = ${period}), 0)`;
  const none = sql<string>`0`;
  return db
    .select({
      tenantDay: total("", "day").as(SPEND_COLUMNS.tenantDay),
      tenantMonth: total("", "month").as(SPEND_COLUMNS.tenantMonth),
      agentDay: (agent ? total(agent, "day") : none).as(SPEND_COLUMNS.agentDay),
      agentMonth: (agent ? total(agent, "month") : none).as(SPEND_COLUMNS.agentMonth),
    })
    .from(spendTotals)
    .where(
      and(
        eq(spendTotals.tenantId, tenantId),
        inArray(spendTotals.agentId, agent ? ["", agent] : [""]),
        or(
          and(eq(spendTotals.period, "day"), sql`${spendTotals.periodStart} = ${DAY_START}`),
          and(eq(spendTotals.period, "month"), sql`${spendTotals.periodStart} = ${MONTH_START}`),
        ),
      ),
    );
}

/** A spendToDate row (by its column names) as SpendToDate. */
function spendFromRow(row: Record<string, unknown>): PolicyState["spend"] {
  return {
    tenantDay: Number(row[SPEND_COLUMNS.tenantDay] ?? 0),
    tenantMonth: Number(row[SPEND_COLUMNS.tenantMonth] ?? 0),
    agentDay: Number(row[SPEND_COLUMNS.agentDay] ?? 0),
    agentMonth: Number(row[SPEND_COLUMNS.agentMonth] ?? 0),
  };
}

/** A json/json_agg column: parsed by the driver, or still text. */
function fromJson<T>(value: unknown, fallback: T): T {
  if (value === null || value === undefined) return fallback;
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}

/**
 * One statement (one snapshot, one round trip, no transaction): each part is a scalar subquery
 * aggregated to JSON, so the database parses, plans and answers once instead of six times inside a
 * BEGIN ... COMMIT batch.
 */
export async function loadPolicyState(
  db: Database,
  call: Pick<EvaluationInput, "tenantId" | "agentId" | "skillId" | "policyType">,
): Promise<LoadedPolicyState> {
  const aggregate = (table: PgTable, where: SQL) =>
    sql`(SELECT coalesce(json_agg(t), '[]') FROM ${table} t WHERE ${where})`;
  const result = await db.execute(sql`SELECT
    ${aggregate(policyApprovalLevels, sql`t.policy_type = ${call.policyType} AND (t.tenant_id IS NULL OR t.tenant_id = ${call.tenantId})`)} AS levels,
    ${aggregate(capabilityRules, sql`t.tenant_id = ${call.tenantId}`)} AS rules,
    ${aggregate(budgets, sql`t.tenant_id = ${call.tenantId}`)} AS budgets,
    (SELECT row_to_json(s) FROM (${spendToDate(db, call)}) s) AS spend,
    ${aggregate(skillCosts, sql`t.skill_id = ${call.skillId}`)} AS costs,
    (SELECT row_to_json(x) FROM (
      SELECT ps.capability_default_effect, ps.unknown_skill_cost_cents, v.version
      FROM ${policySettings} ps CROSS JOIN ${policySetVersion} v) x) AS settings,
    ${shadowMarkerColumn(call.tenantId)} AS shadow`);
  const [raw] = result.rows as Record<string, unknown>[];
  const settings = fromJson<Record<string, unknown> | null>(raw?.settings, null);
  if (!raw || !settings)
    throw new Error("policy_settings / policy_set_version rows are missing: run the migrations");
  const rows = <T>(table: PgTable, value: unknown) =>
    fromJson<Record<string, unknown>[]>(value, []).map((row) => rowFromRaw<T>(table, row));
  const spend = fromJson<Record<string, unknown>>(raw.spend, {});
  return {
    approvalLevels: rows(policyApprovalLevels, raw.levels),
    capabilityRules: rows(capabilityRules, raw.rules),
    budgets: rows(budgets, raw.budgets),
    skillCosts: rows(skillCosts, raw.costs),
    settings: {
      capabilityDefaultEffect:
        settings.capability_default_effect as PolicyState["settings"]["capabilityDefaultEffect"],
      unknownSkillCostCents: Number(settings.unknown_skill_cost_cents),
    },
    spend: spendFromRow(spend),
    version: Number(settings.version),
    readAt: new Date().toISOString(),
    shadow: shadowFromRow(raw.shadow),
  };
}

/**
 * The policy-set version and the spend to date, in one small statement: enough to evaluate against
 * cached rules when the version shows they are still current.
 */
export async function loadVersionAndSpend(
  db: Database,
  call: Pick<EvaluationInput, "tenantId" | "agentId">,
): Promise<{ version: number; spend: PolicyState["spend"]; readAt: string; shadow: ShadowMarker | null }> {
  // Every evaluation runs it: compiled once per isolate (with or without an agent), bound per call.
  const withAgent = Boolean(call.agentId);
  const tenant = sql.placeholder("tenant");
  const result = await executeCompiled(
    db,
    `policy-version-and-spend:${withAgent ? "agent" : "tenant"}`,
    () =>
      sql`SELECT v.version, s.*, ${shadowMarkerColumn(tenant)} AS shadow_marker
        FROM ${policySetVersion} v, (${spendToDateOf(db, tenant, withAgent ? sql.placeholder("agent") : null)}) s`,
    { tenant: call.tenantId, agent: call.agentId },
  );
  const [raw] = result.rows as Record<string, unknown>[];
  if (!raw) throw new Error("policy_set_version row is missing: run the migrations");
  return {
    version: Number(raw.version),
    spend: spendFromRow(raw),
    readAt: new Date().toISOString(),
    shadow: shadowFromRow(raw.shadow_marker),
  };
}
