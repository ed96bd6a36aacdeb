// Reported usage on the wire: the body of POST /api/v1/policy/usage, the ledger entry it answers, and
// the mappers to the service's command and from a ledger row.
import { z } from "@hono/zod-openapi";
import type { SpendLedgerRow } from "../db/schema.ts";
import type { UsageCommand } from "../services/usage.ts";
import { Identifier, IsoDateTime, optionalDate } from "./common.ts";

export const UsageBody = z
  .object({
    usage_id: Identifier.openapi({
      description: "The reporter's id for this usage: retries with it are safe",
    }),
    tenant_id: Identifier,
    agent_id: Identifier.nullable().optional(),
    skill_id: Identifier.nullable().optional(),
    amount_cents: z.number().int().min(0).max(1_000_000_000),
    occurred_at: IsoDateTime.optional().openapi({ description: "When it was spent; default now" }),
  })
  .strict()
  .openapi("UsageReport");

export const UsageEntrySchema = z
  .object({
    usage_id: z.string(),
    tenant_id: z.string(),
    agent_id: z.string().nullable(),
    skill_id: z.string().nullable(),
    amount_cents: z.number().int(),
    occurred_at: z.string(),
    recorded_at: z.string(),
  })
  .openapi("UsageEntry");

export function toUsageCommand(body: z.infer<typeof UsageBody>): UsageCommand {
  return {
    usageId: body.usage_id,
    tenantId: body.tenant_id,
    agentId: body.agent_id ?? null,
    skillId: body.skill_id ?? null,
    amountCents: body.amount_cents,
    occurredAt: optionalDate(body.occurred_at),
  };
}

export function usageEntryToApi(row: SpendLedgerRow): z.infer<typeof UsageEntrySchema> {
  return {
    usage_id: row.reference,
    tenant_id: row.tenantId,
    agent_id: row.agentId,
    skill_id: row.skillId,
    amount_cents: row.amountCents,
    occurred_at: row.occurredAt.toISOString(),
    recorded_at: row.createdAt.toISOString(),
  };
}
