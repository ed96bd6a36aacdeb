// POST /api/v1/policy/usage: actual spend reported by the platform, added to the budget ledger.
// Idempotent per tenant and usage_id: a retry returns the recorded entry; the same id with other values is 409.
import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { createDb } from "../db/client.ts";
import { spendLedger } from "../db/schema.ts";
import { inTenantScope } from "../domain/access.ts";
import { protectedRoute } from "../lib/auth.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import { createRouter, errorResponse } from "../lib/openapi.ts";
import { Identifier } from "./policy-schemas.ts";

/** Reports may be late, but not from the future (beyond clock skew). */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

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

const route = protectedRoute("usage:report", {
  method: "post",
  path: "/api/v1/policy/usage",
  tags: ["policy"],
  summary: "Record actual spend against the tenant's budgets",
  request: { body: { required: true, content: { "application/json": { schema: UsageBody } } } },
  responses: {
    201: { description: "Recorded", content: { "application/json": { schema: UsageEntry } } },
    200: {
      description: "Already recorded (a retry)",
      content: { "application/json": { schema: UsageEntry } },
    },
    409: errorResponse("usage_id already recorded with different values"),
  },
});

export const usageRoutes = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  if (!inTenantScope(c.var.principal, body.tenant_id)) {
    throw new ApiError("forbidden", `This key may not act for tenant ${body.tenant_id}`);
  }
  const occurredAt = body.occurred_at ? new Date(body.occurred_at) : new Date();
  if (occurredAt.getTime() > Date.now() + MAX_CLOCK_SKEW_MS) {
    throw invalidField("occurred_at", "must not be in the future");
  }
  const db = createDb(c.env);
  const wanted = {
    tenantId: body.tenant_id,
    agentId: body.agent_id ?? null,
    skillId: body.skill_id ?? null,
    amountCents: body.amount_cents,
    source: "usage" as const,
    reference: body.usage_id,
    occurredAt,
  };
  // One round trip: insert unless recorded, then read whichever row stands.
  const [inserted, [row]] = await db.batch([
    db.insert(spendLedger).values(wanted).onConflictDoNothing().returning({ id: spendLedger.id }),
    db
      .select()
      .from(spendLedger)
      .where(
        and(
          eq(spendLedger.tenantId, body.tenant_id),
          eq(spendLedger.source, "usage"),
          eq(spendLedger.reference, body.usage_id),
        ),
      ),
  ]);
  if (!row) throw new Error("usage row missing after insert");
  const created = inserted.length > 0;
  const same =
    row.tenantId === wanted.tenantId &&
    row.agentId === wanted.agentId &&
    row.skillId === wanted.skillId &&
    row.amountCents === wanted.amountCents &&
    (body.occurred_at === undefined || row.occurredAt.getTime() === occurredAt.getTime());
  if (!created && !same) {
    throw new ApiError("conflict", `usage_id ${body.usage_id} was already recorded with different values`);
  }
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
