// POST /api/v1/policy/usage: actual spend reported by the platform, added to the budget ledger.
// Idempotent per tenant and usage_id: a retry returns the recorded entry; the same id with other values is 409.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { reportUsage } from "../services/usage.ts";
import { Identifier } from "./policy-schemas.ts";

const UsageBody = z
  .object({
    usage_id: Identifier.openapi({
      description: "The reporter's id for this usage: retries with it are safe",
    }),
    tenant_id: Identifier,
    agent_id: Identifier.nullable().optional(),
    skill_id: Identifier.nullable().optional(),
    amount_cents: z.number().int().min(0).max(1_000_000_000),
    occurred_at: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: "When it was spent; default now" }),
  })
  .strict()
  .openapi("UsageReport");

const UsageEntry = z
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

const route = protectedRoute(
  "usage:report",
  {
    method: "post",
    path: "/api/v1/policy/usage",
    tags: ["policy"],
    summary: "Record actual spend against the tenant's budgets",
    request: { body: { required: true, content: { "application/json": { schema: UsageBody } } } },
    responses: {
      201: jsonResponse(UsageEntry, "Recorded"),
      200: jsonResponse(UsageEntry, "Already recorded (a retry)"),
    },
  },
  { 409: "usage_id already recorded with different values" },
);

export const usageRoutes = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const { row, created } = await reportUsage(c.var.services, c.var.principal, {
    usageId: body.usage_id,
    tenantId: body.tenant_id,
    agentId: body.agent_id ?? null,
    skillId: body.skill_id ?? null,
    amountCents: body.amount_cents,
    occurredAt: body.occurred_at ? new Date(body.occurred_at) : undefined,
  });
  return c.json(
    {
      usage_id: row.reference,
      tenant_id: row.tenantId,
      agent_id: row.agentId,
      skill_id: row.skillId,
      amount_cents: row.amountCents,
      occurred_at: row.occurredAt.toISOString(),
      recorded_at: row.createdAt.toISOString(),
    },
    created ? 201 : 200,
  );
});
