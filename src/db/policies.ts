// Statements on the policy tables. Every change runs in one transaction (one round trip) that first
// names the actor for the audit trigger (migration 0004), which writes the audit event and bumps the
// policy-set version; the same trigger records changes made by hand-written SQL.
import { asc, eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Database } from "./client.ts";
import {
  budgets,
  capabilityRules,
  policyApprovalLevels,
  policySettings,
  policySetVersion,
  skillCosts,
} from "./schema.ts";

/** Who changes policy, as the audit trigger records it. */
export interface PolicyActor {
  principalId: string;
  keyId: string;
  requestId: string | null;
}

export interface PolicyTable {
  table: PgTable;
  idColumn: PgColumn;
}

/** The policy kinds the admin API manages, by URL segment. */
export const POLICY_TABLES = {
  "approval-levels": { table: policyApprovalLevels, idColumn: policyApprovalLevels.id },
  "capability-rules": { table: capabilityRules, idColumn: capabilityRules.id },
  budgets: { table: budgets, idColumn: budgets.id },
  "skill-costs": { table: skillCosts, idColumn: skillCosts.skillId },
} as const satisfies Record<string, PolicyTable>;
export type PolicyKind = keyof typeof POLICY_TABLES;

// Rows travel with the columns' SQL names (snake_case) and timestamps as ISO strings, as the admin
// API shows them; values come in the same naming.
function toSqlNames(table: PgTable, row: Record<string, unknown>): Record<string, unknown> {
  const columns = getTableColumns(table);
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      columns[key]?.name ?? key,
      value instanceof Date ? value.toISOString() : value,
    ]),
  );
}

export function fromSqlNames(table: PgTable, values: Record<string, unknown>): Record<string, unknown> {
  const byName = new Map(Object.entries(getTableColumns(table)).map(([key, column]) => [column.name, key]));
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [byName.get(name) ?? name, value]));
}

/** Names who is changing policy, for the audit trigger, in this transaction only (any transaction). */
export function actorSql(actor: PolicyActor): SQL {
  return sql`SELECT set_config('policy.actor', ${actor.principalId}, true),
    set_config('policy.actor_key_id', ${actor.keyId}, true),
    set_config('policy.request_id', ${actor.requestId}, true)`;
}

/** actorSql as a statement of an HTTP batch. */
export function actorStatement(db: Database, actor: PolicyActor) {
  return db.execute(actorSql(actor));
}

function versionStatement(db: Database) {
  return db.select({ version: policySetVersion.version }).from(policySetVersion);
}

/** Rows of a policy table whose columns (by SQL name) equal the given values, in id order. */
export async function listPolicyRows(
  db: Database,
  { table, idColumn }: PolicyTable,
  equalities: Record<string, string | number>,
  page: { limit: number; offset: number },
): Promise<Record<string, unknown>[]> {
  const byName = new Map(Object.values(getTableColumns(table)).map((column) => [column.name, column]));
  const conditions: SQL[] = Object.entries(equalities).flatMap(([name, value]) => {
    const column = byName.get(name);
    return column ? [eq(column, value)] : [];
  });
  const rows = await db
    .select()
    .from(table)
    .where(conditions.length ? sql.join(conditions, sql` AND `) : undefined)
    .orderBy(asc(idColumn))
    .limit(page.limit)
    .offset(page.offset);
  return (rows as Record<string, unknown>[]).map((row) => toSqlNames(table, row));
}

export async function findPolicyRow(
  db: Database,
  { table, idColumn }: PolicyTable,
  id: string | number,
): Promise<Record<string, unknown> | undefined> {
  const [row] = await db.select().from(table).where(eq(idColumn, id));
  return row ? toSqlNames(table, row as Record<string, unknown>) : undefined;
}

/**
 * Enabled approval-level rows of a policy type whose scope covers the given one (each of tenant,
 * agent and skill NULL or equal), other than `excludeId`: the rules a row of that scope overrides.
 */
export async function broaderApprovalLevels(
  db: Database,
  scope: Record<string, unknown>,
  excludeId: string | number | undefined,
): Promise<Record<string, unknown>[]> {
  const covers = (column: PgColumn, value: unknown) =>
    value === null || value === undefined
      ? sql`${column} IS NULL`
      : sql`(${column} IS NULL OR ${column} = ${value})`;
  const rows = await db
    .select()
    .from(policyApprovalLevels)
    .where(
      sql.join(
        [
          sql`${policyApprovalLevels.policyType} = ${scope.policy_type}`,
          sql`${policyApprovalLevels.enabled}`,
          covers(policyApprovalLevels.tenantId, scope.tenant_id),
          covers(policyApprovalLevels.agentId, scope.agent_id),
          covers(policyApprovalLevels.skillId, scope.skill_id),
          ...(excludeId === undefined ? [] : [sql`${policyApprovalLevels.id} <> ${excludeId}`]),
        ],
        sql` AND `,
      ),
    );
  return rows.map((row) => toSqlNames(policyApprovalLevels, row));
}

export type PolicyMutation = "insert" | "update" | "delete";

/**
 * One change, one round trip: name the actor, run the mutation, read the version the trigger left.
 * `values` and the answer are keyed by SQL column names. Returns the changed row (none: no row matched).
 */
export async function changePolicyRow(
  db: Database,
  actor: PolicyActor,
  { table, idColumn }: PolicyTable,
  change:
    | { kind: "insert"; values: Record<string, unknown> }
    | { kind: "update"; id: string | number; values: Record<string, unknown> }
    | { kind: "delete"; id: string | number },
  /** Only if these columns (SQL names) still hold these values: a compare-and-swap on what was checked. */
  unchanged: Record<string, unknown> = {},
): Promise<{ row: Record<string, unknown> | undefined; version: number }> {
  const columns = new Map(Object.values(getTableColumns(table)).map((column) => [column.name, column]));
  const guards = Object.entries(unchanged).flatMap(([name, value]) => {
    const column = columns.get(name);
    return column ? [sql`${column} IS NOT DISTINCT FROM ${value}`] : [];
  });
  const target = (id: string | number) => sql.join([sql`${idColumn} = ${id}`, ...guards], sql` AND `);
  // The policy tables share no insert/update type; callers validated `values` against this table.
  let mutation: BatchItem<"pg">;
  if (change.kind === "insert") {
    mutation = db
      .insert(table)
      .values(fromSqlNames(table, change.values) as never)
      .returning();
  } else if (change.kind === "update") {
    mutation = db
      .update(table)
      .set({ ...fromSqlNames(table, change.values), updatedAt: sql`now()` } as never)
      .where(target(change.id))
      .returning();
  } else {
    mutation = db.delete(table).where(target(change.id)).returning();
  }
  const [, rows, [version]] = await db.batch([actorStatement(db, actor), mutation, versionStatement(db)]);
  const row = (rows as Record<string, unknown>[])[0];
  return { row: row ? toSqlNames(table, row) : undefined, version: Number(version?.version) };
}

export interface SettingsState {
  capabilityDefaultEffect: (typeof policySettings.$inferSelect)["capabilityDefaultEffect"];
  unknownSkillCostCents: number;
  updatedAt: Date;
  version: number;
}

export async function readSettings(db: Database): Promise<SettingsState> {
  const [row] = await db
    .select({ settings: policySettings, version: policySetVersion.version })
    .from(policySettings)
    .crossJoin(policySetVersion);
  if (!row) throw new Error("policy_settings row missing: run the migrations");
  return {
    capabilityDefaultEffect: row.settings.capabilityDefaultEffect,
    unknownSkillCostCents: row.settings.unknownSkillCostCents,
    updatedAt: row.settings.updatedAt,
    version: Number(row.version),
  };
}

export async function updateSettings(
  db: Database,
  actor: PolicyActor,
  values: Partial<Pick<SettingsState, "capabilityDefaultEffect" | "unknownSkillCostCents">>,
): Promise<void> {
  await db.batch([
    actorStatement(db, actor),
    db
      .update(policySettings)
      .set({ ...values, updatedAt: sql`now()` })
      .where(eq(policySettings.id, 1)),
  ]);
}
