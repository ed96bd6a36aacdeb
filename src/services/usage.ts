// Usage reports: actual spend the platform reports, added to the budget ledger once per usage id.

import type { SpendLedgerRow } from "../db/schema.ts";
import { recordUsage } from "../db/usage.ts";
import { actingAgent, type Principal, tenantActionRefusal } from "../domain/access.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";
import { canonicalIdOf } from "./evaluation.ts";

/** Reports may be late, but not from the future (beyond clock skew). */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface UsageCommand {
  usageId: string;
  tenantId: string;
  agentId: string | null;
  skillId: string | null;
  amountCents: number;
  /** Undefined: now. */
  occurredAt: Date | undefined;
}

/** Records the usage, or returns the entry a retry already recorded; other values for the same id are 409. */
export async function reportUsage(
  ctx: ServiceContext,
  principal: Principal,
  request: UsageCommand,
): Promise<{ row: SpendLedgerRow; created: boolean }> {
  // Ids folded to their canonical form for every caller, as the schemas do.
  const command = {
    ...request,
    usageId: canonicalIdOf("usage_id", request.usageId),
    tenantId: canonicalIdOf("tenant_id", request.tenantId),
    agentId: request.agentId === null ? null : canonicalIdOf("agent_id", request.agentId),
    skillId: request.skillId === null ? null : canonicalIdOf("skill_id", request.skillId),
  };
  const refusal = tenantActionRefusal(principal, command.tenantId);
  if (refusal) throw new ApiError("forbidden", refusal);
  // Spend counts against the agent's budgets, so an agent key reports only for agents it acts for.
  const agent = actingAgent(principal, command.agentId);
  if (!agent.allowed) throw new ApiError("forbidden", agent.reason);
  const agentId = agent.agentId;
  const occurredAt = command.occurredAt ?? new Date();
  if (occurredAt.getTime() > Date.now() + MAX_CLOCK_SKEW_MS) {
    throw invalidField("occurred_at", "must not be in the future");
  }
  const { row, created } = await recordUsage(ctx.db, {
    tenantId: command.tenantId,
    agentId,
    skillId: command.skillId,
    amountCents: command.amountCents,
    reference: command.usageId,
    occurredAt,
  });
  const same =
    row.tenantId === command.tenantId &&
    row.agentId === agentId &&
    row.skillId === command.skillId &&
    row.amountCents === command.amountCents &&
    (command.occurredAt === undefined || row.occurredAt.getTime() === occurredAt.getTime());
  if (!created && !same) {
    throw new ApiError("conflict", `usage_id ${command.usageId} was already recorded with different values`);
  }
  return { row, created };
}
