// /api/v1/admin/escalation: the escalation job's switch and a manual run (the runbook's "Pause
// Escalation Worker" and "Manual run", without crontabs). Thin: services/escalation.ts does the work.

import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { EscalationRunSchema, JobStatusSchema, ReasonBody } from "../schemas/operations.ts";
import { escalationStatus, runEscalation, setEscalationPaused } from "../services/escalation.ts";

const BASE = "/api/v1/admin/escalation";

const readRoute = protectedRoute("emergency", {
  method: "get",
  path: BASE,
  tags: ["admin: escalation"],
  summary: "Whether the escalation job is paused, and its last run",
  responses: { 200: jsonResponse(JobStatusSchema, "The switch and the last run") },
});

const switchRoute = (action: "pause" | "resume") =>
  protectedRoute("emergency", {
    method: "post",
    path: `${BASE}/${action}`,
    tags: ["admin: escalation"],
    summary:
      action === "pause"
        ? "Pause the escalation job (runs skip until resumed; audited)"
        : "Resume the escalation job (audited)",
    request: { body: { required: true, content: { "application/json": { schema: ReasonBody } } } },
    responses: { 200: jsonResponse(JobStatusSchema, "The switch as it stands") },
  });

const runRoute = protectedRoute("emergency", {
  method: "post",
  path: `${BASE}/run`,
  tags: ["admin: escalation"],
  summary: "Run the escalation job now (as the cron does each minute) and answer its summary",
  responses: { 200: jsonResponse(EscalationRunSchema, "What the run did") },
});

export const adminEscalationRoutes = createRouter()
  .openapi(readRoute, async (c) => c.json(await escalationStatus(c.var.services), 200))
  .openapi(switchRoute("pause"), async (c) =>
    c.json(await setEscalationPaused(c.var.services, c.var.principal, true, c.req.valid("json").reason), 200),
  )
  .openapi(switchRoute("resume"), async (c) =>
    c.json(
      await setEscalationPaused(c.var.services, c.var.principal, false, c.req.valid("json").reason),
      200,
    ),
  )
  .openapi(runRoute, async (c) =>
    c.json(await runEscalation(c.var.services, { now: new Date(), trigger: "manual" }), 200),
  );
