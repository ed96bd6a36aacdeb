// GET /api/v1/policy/decisions[/{decision_id}]: the decision log written by every evaluation.
// Tenant-scoped keys see their tenant only; another tenant's decision answers 404, not 403.
import { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";
import { createDb } from "../db/client.ts";
import { DECISIONS, type PolicyDecisionRow, policyDecisions } from "../db/schema.ts";
import { inTenantScope } from "../domain/access.ts";
import { levelName } from "../domain/vocabulary.ts";
import { protectedRoute } from "../lib/auth.ts";
import { ApiError } from "../lib/errors.ts";
import { createRouter, errorResponse } from "../lib/openapi.ts";
import { Identifier } from "./policy-schemas.ts";

const DecisionSchema = z
  .object({
    decision_id: z.string(),
    decision: z.enum(DECISIONS),
    tenant_id: z.string(),
    agent_id: z.string().nullable(),
    skill_id: z.string(),
    policy_type: z.string(),
    approval_level_required: z.number().int(),
    approval_level_name: z.string().nullable(),
    simulated_cost_cents: z.number().int(),
    policy_version: z.number().int(),
    overrides_used: z.boolean(),
    reasons: z.array(z.string()),
    violations: z.array(z.unknown()),
    checks: z.array(z.unknown()),
    principal_id: z.string(),
    request_id: z.string().nullable(),
    timestamp: z.string(),
  })
  .openapi("PolicyDecision");

function toApi(row: PolicyDecisionRow): z.infer<typeof DecisionSchema> {
  return {
    decision_id: row.id,
    decision: row.decision,
    tenant_id: row.tenantId,
    agent_id: row.agentId,
    skill_id: row.skillId,
    policy_type: row.policyType,
    approval_level_required: row.approvalLevelRequired,
    approval_level_name: levelName(row.approvalLevelRequired) ?? null,
    simulated_cost_cents: row.simulatedCostCents,
    policy_version: row.policyVersion,
    overrides_used: row.overridesUsed,
    reasons: row.reasons,
    violations: row.violations,
    checks: row.checks,
    principal_id: row.principalId,
    request_id: row.requestId,
    timestamp: row.createdAt.toISOString(),
  };
}

const getDecision = protectedRoute("decisions:read", {
  method: "get",
  path: "/api/v1/policy/decisions/{decision_id}",
  tags: ["policy"],
  summary: "Read one logged decision",
  request: {
    params: z.object({
      decision_id: z
        .string()
        .regex(/^dec_[0-9a-f]{20}$/, "a decision id is dec_ + 20 hex characters")
        .openapi({ param: { name: "decision_id", in: "path" } }),
    }),
  },
  responses: {
    200: { description: "The decision", content: { "application/json": { schema: DecisionSchema } } },
    404: errorResponse("No such decision (or not in your tenant)"),
  },
});

const listDecisions = protectedRoute("decisions:read", {
  method: "get",
  path: "/api/v1/policy/decisions",
  tags: ["policy"],
  summary: "List logged decisions, newest first",
  request: {
    query: z.object({
      tenant_id: Identifier.optional(),
      agent_id: Identifier.optional(),
      skill_id: Identifier.optional(),
      decision: z.enum(DECISIONS).optional(),
      since: z.iso
        .datetime({ offset: true })
        .optional()
        .openapi({ description: "Inclusive lower bound (ISO 8601)" }),
      until: z.iso
        .datetime({ offset: true })
        .optional()
        .openapi({ description: "Exclusive upper bound (ISO 8601)" }),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
    }),
  },
  responses: {
    200: { description: "Decisions", content: { "application/json": { schema: z.array(DecisionSchema) } } },
    403: errorResponse("tenant_id outside the key's tenant"),
  },
});

export const decisionRoutes = createRouter()
  .openapi(getDecision, async (c) => {
    const { decision_id } = c.req.valid("param");
    const [row] = await createDb(c.env)
      .select()
      .from(policyDecisions)
      .where(eq(policyDecisions.id, decision_id));
    if (!row || !inTenantScope(c.var.principal, row.tenantId)) {
      throw new ApiError("not_found", `No decision ${decision_id}`);
    }
    return c.json(toApi(row), 200);
  })
  .openapi(listDecisions, async (c) => {
    const query = c.req.valid("query");
    const scope = c.var.principal.tenantId;
    if (scope !== null && query.tenant_id !== undefined && query.tenant_id !== scope) {
      throw new ApiError("forbidden", `This key may only read tenant ${scope}`);
    }
    const tenant = scope ?? query.tenant_id;
    const conditions: (SQL | undefined)[] = [
      tenant ? eq(policyDecisions.tenantId, tenant) : undefined,
      query.agent_id ? eq(policyDecisions.agentId, query.agent_id) : undefined,
      query.skill_id ? eq(policyDecisions.skillId, query.skill_id) : undefined,
      query.decision ? eq(policyDecisions.decision, query.decision) : undefined,
      query.since ? gte(policyDecisions.createdAt, new Date(query.since)) : undefined,
      query.until ? lt(policyDecisions.createdAt, new Date(query.until)) : undefined,
    ];
    const rows = await createDb(c.env)
      .select()
      .from(policyDecisions)
      .where(and(...conditions))
      .orderBy(desc(policyDecisions.createdAt), desc(policyDecisions.id))
      .limit(query.limit)
      .offset(query.offset);
    return c.json(rows.map(toApi), 200);
  });
