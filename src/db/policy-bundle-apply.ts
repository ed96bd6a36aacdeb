// Applying a policy bundle (issue 29) inside one interactive transaction: lock the policy-set version
// row (which every policy write also updates, through the audit trigger, so applies and admin API
// writes serialize), read the live set, write a diff row by row IN PLACE by each row's key (unchanged
// rows are not touched, so their ids and updated_at stay), and record the apply as one audit event.
// The service decides what to write (src/services/policy-bundles.ts); these are the statements.
import { type SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { BundleDiff, BundleSettings, SectionDiff, SectionName } from "../domain/policy-bundle.ts";
import type { TransactionDatabase } from "./client.ts";
import { actorSql, fromSqlNames, type PolicyActor } from "./policies.ts";
import type { LivePolicySet } from "./policy-bundles.ts";
import { loadLivePolicySet } from "./policy-bundles.ts";
import {
  auditEvents,
  budgets,
  capabilityRules,
  policyApprovalLevels,
  policySettings,
  policySetVersion,
  skillCosts,
} from "./schema.ts";

/** The transaction handle withInteractiveTransaction gives its work. */
export type PolicyTransaction = Parameters<Parameters<TransactionDatabase["transaction"]>[0]>[0];

/** Each row kind's table and the columns of its unique key (src/domain/policy-bundle.ts rowKey). */
const SECTION_TABLES: Record<SectionName, { table: PgTable; key: PgColumn[] }> = {
  approval_levels: {
    table: policyApprovalLevels,
    key: [
      policyApprovalLevels.policyType,
      policyApprovalLevels.tenantId,
      policyApprovalLevels.agentId,
      policyApprovalLevels.skillId,
    ],
  },
  capability_rules: {
    table: capabilityRules,
    key: [capabilityRules.tenantId, capabilityRules.agentId, capabilityRules.skillPattern],
  },
  budgets: { table: budgets, key: [budgets.tenantId, budgets.agentId, budgets.period] },
  skill_costs: { table: skillCosts, key: [skillCosts.skillId] },
};

/**
 * Takes the policy-set version row's lock for the rest of the transaction and reads the live set
 * after it: no other policy write commits in between, so what is read is what the diff applies to.
 */
export async function lockAndLoadLivePolicySet(tx: PolicyTransaction): Promise<LivePolicySet> {
  await tx.execute(sql`SELECT version FROM ${policySetVersion} WHERE id = 1 FOR UPDATE`);
  return loadLivePolicySet(tx);
}

/** The row with this row's key (NULL matches NULL, as the unique constraints treat it). */
function byKey(key: PgColumn[], row: Record<string, unknown>): SQL {
  return sql.join(
    key.map((column) => sql`${column} IS NOT DISTINCT FROM ${row[column.name] ?? null}`),
    sql` AND `,
  );
}

/**
 * Writes a diff as the actor (the audit trigger records each row change and bumps the version): deletes
 * first, then updates, then inserts, so a key never collides with itself.
 */
export async function writeBundleDiff(
  tx: PolicyTransaction,
  actor: PolicyActor,
  diff: BundleDiff,
): Promise<void> {
  await tx.execute(actorSql(actor));
  for (const [section, { table, key }] of Object.entries(SECTION_TABLES) as [
    SectionName,
    (typeof SECTION_TABLES)[SectionName],
  ][]) {
    // Rows travel keyed by SQL column names, as the bundle's fields are.
    const change = diff[section] as unknown as SectionDiff<Record<string, unknown>>;
    for (const row of change.removed) {
      await tx.delete(table).where(byKey(key, row));
    }
    for (const { after } of change.changed) {
      await tx
        .update(table)
        // The policy tables share no update type; the bundle's rows were validated for this table.
        .set({ ...fromSqlNames(table, after), updatedAt: sql`now()` } as never)
        .where(byKey(key, after));
    }
    if (change.added.length > 0) {
      await tx.insert(table).values(change.added.map((row) => fromSqlNames(table, row)) as never);
    }
  }
  if (diff.settings) await writeSettings(tx, diff.settings.after);
}

async function writeSettings(tx: PolicyTransaction, settings: BundleSettings): Promise<void> {
  await tx
    .update(policySettings)
    .set({
      capabilityDefaultEffect: settings.capability_default_effect,
      unknownSkillCostCents: settings.unknown_skill_cost_cents,
      updatedAt: sql`now()`,
    })
    .where(sql`${policySettings.id} = 1`);
}

/** One audit event for the apply as a whole (the trigger already wrote one per row). */
export async function insertBundleAudit(
  tx: PolicyTransaction,
  actor: PolicyActor,
  event: { scope: string; before: Record<string, unknown>; after: Record<string, unknown> },
): Promise<void> {
  await tx.insert(auditEvents).values({
    actor: actor.principalId,
    actorKeyId: actor.keyId,
    action: "policy.bundle_applied",
    targetType: "policy",
    targetId: event.scope,
    before: event.before,
    after: event.after,
    requestId: actor.requestId,
  });
}

export async function readPolicyVersion(tx: PolicyTransaction): Promise<number> {
  const [row] = await tx.select({ version: policySetVersion.version }).from(policySetVersion);
  return Number(row?.version);
}
