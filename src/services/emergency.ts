// The runbook's emergency procedures as audited operations (actor, reason, time), safer than raw SQL:
// disable auto-approve with a restore, and the runbook's database queries without psql. (Pausing the
// jobs and the mass reject live with their services: escalation.ts, webhooks.ts, approval-requests.ts.)
import { disableAutoApprove, readStats, restoreAutoApprove } from "../db/emergency.ts";
import { type Principal, policyChangeRefusal } from "../domain/access.ts";
import { APPROVAL_LEVELS } from "../domain/vocabulary.ts";
import { ApiError } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";

/** Raising rows to manual_approve, and restoring them, governs levels up to manual_approve. */
const GOVERNED_LEVEL = APPROVAL_LEVELS.manual_approve;

function actorOf(ctx: ServiceContext, principal: Principal) {
  return { principalId: principal.principalId, keyId: principal.keyId, requestId: ctx.requestId };
}

export async function disableAutoApproval(ctx: ServiceContext, principal: Principal, reason: string) {
  const refusal = policyChangeRefusal(principal, GOVERNED_LEVEL);
  if (refusal) throw new ApiError("forbidden", refusal);
  const { snapshotId, changed } = await disableAutoApprove(ctx.db, actorOf(ctx, principal), reason);
  ctx.log.warn("emergency_disable_auto_approve", { by: principal.principalId, reason, rows: changed.length });
  return { snapshot_id: snapshotId, changed };
}

export async function restoreAutoApproval(ctx: ServiceContext, principal: Principal, reason: string) {
  const refusal = policyChangeRefusal(principal, GOVERNED_LEVEL);
  if (refusal) throw new ApiError("forbidden", refusal);
  const result = await restoreAutoApprove(ctx.db, actorOf(ctx, principal), reason);
  if (!result)
    throw new ApiError("conflict", "Nothing to restore: auto-approve is not disabled by this operation");
  ctx.log.warn("emergency_restore_auto_approve", {
    by: principal.principalId,
    reason,
    rows: result.restored.length,
  });
  return { snapshot_id: result.snapshotId, restored: result.restored };
}

export async function databaseStats(ctx: ServiceContext, recentLimit = 10) {
  const stats = await readStats(ctx.db, recentLimit);
  return {
    status_distribution: stats.byStatus,
    recent_requests: stats.recent,
    table_size: stats.tableSize,
    indexes: stats.indexes,
  };
}
