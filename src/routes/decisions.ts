// GET /api/v1/policy/decisions[/{decision_id}]: the decision log written by every evaluation.
// Tenant-scoped keys see their tenant only; another tenant's decision answers 404, not 403.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import {
  DecisionIdParam,
  DecisionListQuery,
  DecisionSchema,
  decisionToApi,
  toDecisionSearch,
} from "../schemas/decisions.ts";
import { getDecision, searchDecisions } from "../services/evaluation.ts";

const getDecisionRoute = protectedRoute(
  "decisions:read",
  {
    method: "get",
    path: "/api/v1/policy/decisions/{decision_id}",
    tags: ["policy"],
    summary: "Read one logged decision",
    request: { params: DecisionIdParam },
    responses: { 200: jsonResponse(DecisionSchema, "The decision") },
  },
  { 404: "No such decision (or not in your tenant)" },
);

const listDecisionsRoute = protectedRoute("decisions:read", {
  method: "get",
  path: "/api/v1/policy/decisions",
  tags: ["policy"],
  summary: "List logged decisions, newest first",
  request: { query: DecisionListQuery },
  responses: { 200: jsonResponse(z.array(DecisionSchema), "Decisions") },
});

export const decisionRoutes = createRouter()
  .openapi(getDecisionRoute, async (c) => {
    const { decision_id } = c.req.valid("param");
    return c.json(decisionToApi(await getDecision(c.var.services, c.var.principal, decision_id)), 200);
  })
  .openapi(listDecisionsRoute, async (c) => {
    const search = toDecisionSearch(c.req.valid("query"));
    const rows = await searchDecisions(c.var.services, c.var.principal, search);
    return c.json(rows.map(decisionToApi), 200);
  });
