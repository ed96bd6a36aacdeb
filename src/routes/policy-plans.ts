// POST /api/v1/admin/policies/bundle/plan: replay the decision log of a window against a bundle and
// answer what would change (docs/POLICY.md, Plans). Thin: src/services/policy-plans.ts does the work.

import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { PlanReportSchema, PlanRequestSchema, toPlanCommand } from "../schemas/policy-plans.ts";
import { planBundle } from "../services/policy-plans.ts";

const plan = protectedRoute("policies:manage", {
  method: "post",
  path: "/api/v1/admin/policies/bundle/plan",
  tags: ["admin: policies"],
  summary: "Plan a bundle against the decisions the service answered in a window",
  description:
    "Replays each logged decision of the bundle's scope against the live policy and against the bundle in force, and counts the answers that would change, by tenant and skill. Changes nothing.",
  request: { body: { required: true, content: { "application/json": { schema: PlanRequestSchema } } } },
  responses: { 200: jsonResponse(PlanReportSchema, "What the bundle would have answered differently") },
});

export const policyPlanRoutes = createRouter().openapi(plan, async (c) => {
  const report = await planBundle(c.var.services, toPlanCommand(c.req.valid("json")));
  return c.json(report, 200);
});
