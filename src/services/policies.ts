// Policy administration as operations: list, read, create, change and delete rules of each kind, and
// the policy-wide settings. The audit trigger records every change with the actor named here.
import { sqlState, UNIQUE_VIOLATION } from "../db/errors.ts";
import {
  broaderApprovalLevels,
  changePolicyRow,
  findPolicyRow,
  listPolicyRows,
  POLICY_TABLES,
  type PolicyActor,
  type PolicyKind,
  readSettings,
  type SettingsState,
  updateSettings,
} from "../db/policies.ts";
import { governedLevel, levelInForce, type Principal, policyChangeRefusal } from "../domain/access.ts";
import { APPROVAL_LEVELS } from "../domain/vocabulary.ts";
import { ApiError } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";

const CHECK_VIOLATION = "23514";
const MAX_APPROVAL_LEVEL = APPROVAL_LEVELS.owner_override;

export function actorOf(ctx: ServiceContext, principal: Principal): PolicyActor {
  return { principalId: principal.principalId, keyId: principal.keyId, requestId: ctx.requestId };
}

const DEADLOCK = "40P01";

/** Runs a policy write, turning the constraint failures a client can cause into 4xx answers. */
export async function runChange<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const state = sqlState(error);
    if (state === UNIQUE_VIOLATION) {
      throw new ApiError("conflict", "A rule for exactly this scope already exists; update it instead");
    }
    if (state === CHECK_VIOLATION)
      throw new ApiError("bad_request", "The values break a policy table constraint");
    // Two writers crossed (a bundle apply and a row change); the database undid one: retry it.
    if (state === DEADLOCK) throw new ApiError("conflict", "A concurrent policy change collided; retry");
    throw error;
  }
}

export async function listPolicies(
  ctx: ServiceContext,
  kind: PolicyKind,
  equalities: Record<string, string | number>,
  page: { limit: number; offset: number },
): Promise<Record<string, unknown>[]> {
  return listPolicyRows(ctx.db, POLICY_TABLES[kind], equalities, page);
}

export async function getPolicy(
  ctx: ServiceContext,
  kind: PolicyKind,
  id: string | number,
): Promise<Record<string, unknown>> {
  const row = await findPolicyRow(ctx.db, POLICY_TABLES[kind], id);
  if (!row) throw new ApiError("not_found", `No ${kind} row ${id}`);
  return row;
}

export type PolicyChange =
  | { kind: "insert"; values: Record<string, unknown> }
  | { kind: "update"; id: string | number; values: Record<string, unknown> }
  | { kind: "delete"; id: string | number };

/** Applies one audited change; answers the changed row and the policy-set version after it. */
export async function changePolicy(
  ctx: ServiceContext,
  principal: Principal,
  kind: PolicyKind,
  change: PolicyChange,
): Promise<{ row: Record<string, unknown>; version: number }> {
  if (change.kind === "update" && Object.keys(change.values).length === 0) {
    throw new ApiError("bad_request", "Send at least one field to change");
  }
  const guard = await levelGuard(ctx, principal, kind, change);
  const { row, version } = await runChange(() =>
    changePolicyRow(ctx.db, actorOf(ctx, principal), POLICY_TABLES[kind], change, guard),
  );
  if (!row && Object.keys(guard).length > 0) {
    throw new ApiError("conflict", "The rule changed while you were changing it; read it and retry");
  }
  if (!row) throw new ApiError("not_found", `No ${kind} row ${"id" in change ? change.id : ""}`);
  ctx.log.info("policy_changed", { kind, change: change.kind, by: principal.principalId, version });
  return { row, version };
}

/** Columns whose values decide the level a rule governs: the compare-and-swap of a checked change. */
const LEVEL_COLUMNS: Partial<Record<PolicyKind, string[]>> = {
  "approval-levels": ["approval_level"],
  "capability-rules": ["effect", "approval_level"],
};

/**
 * An admin below the top level may only change rules governing levels up to its own, before and after
 * the change (policyChangeRefusal). Top-level admins skip the extra read. Returns the column values the
 * write must still find, so a concurrent change cannot slip past the check.
 */
async function levelGuard(
  ctx: ServiceContext,
  principal: Principal,
  kind: PolicyKind,
  change: PolicyChange,
): Promise<Record<string, unknown>> {
  if (principal.maxLevel >= MAX_APPROVAL_LEVEL) return {};
  const before =
    change.kind === "insert" ? undefined : await findPolicyRow(ctx.db, POLICY_TABLES[kind], change.id);
  if (change.kind !== "insert" && !before) throw new ApiError("not_found", `No ${kind} row ${change.id}`);
  const after = change.kind === "delete" ? undefined : { ...before, ...change.values };
  // A row also governs what it overrides: the level in force for the scope it takes over.
  const overridden =
    kind === "approval-levels" && after
      ? levelInForce(await broaderApprovalLevels(ctx.db, after, "id" in change ? change.id : undefined))
      : 0;
  const refusal = policyChangeRefusal(
    principal,
    Math.max(governedLevel(kind, before), governedLevel(kind, after), overridden),
  );
  if (refusal) throw new ApiError("forbidden", refusal);
  if (change.kind === "insert") return {};
  return Object.fromEntries((LEVEL_COLUMNS[kind] ?? []).map((column) => [column, before?.[column] ?? null]));
}

export async function getSettings(ctx: ServiceContext): Promise<SettingsState> {
  return readSettings(ctx.db);
}

export async function changeSettings(
  ctx: ServiceContext,
  principal: Principal,
  values: Partial<Pick<SettingsState, "capabilityDefaultEffect" | "unknownSkillCostCents">>,
): Promise<SettingsState> {
  if (Object.values(values).every((value) => value === undefined)) {
    throw new ApiError("bad_request", "Send at least one field to change");
  }
  const refusal = policyChangeRefusal(principal, governedLevel("settings", {}));
  if (refusal) throw new ApiError("forbidden", refusal);
  await runChange(() => updateSettings(ctx.db, actorOf(ctx, principal), values));
  return readSettings(ctx.db);
}
