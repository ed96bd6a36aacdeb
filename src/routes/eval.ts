// POST /api/v1/policy/eval: allow, deny or requires_approval for a skill call, with the reasons, the
// checks that decided, and a decision log entry. Thin: services/evaluation.ts does the work.

import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { EvalBody, EvalResponse, toEvalAnswer, toEvaluateCommand } from "../schemas/eval.ts";
import { evaluateCall } from "../services/evaluation.ts";

const route = protectedRoute(
  "policy:evaluate",
  {
    method: "post",
    path: "/api/v1/policy/eval",
    tags: ["policy"],
    summary: "Evaluate a skill call against policy",
    request: { body: { required: true, content: { "application/json": { schema: EvalBody } } } },
    responses: { 200: jsonResponse(EvalResponse, "The decision") },
  },
  { 409: "policy_version is not the current policy-set version (code policy_version_mismatch)" },
);

export const evalRoutes = createRouter().openapi(route, async (c) => {
  const result = await evaluateCall(c.var.services, c.var.principal, toEvaluateCommand(c.req.valid("json")));
  return c.json(toEvalAnswer(result), 200);
});
