// Schemas shared by the operator routes: the switch of a background job (escalation, webhook
// delivery) and the reason every audited operator action carries.
import { z } from "@hono/zod-openapi";

export const JobStatusSchema = z
  .object({
    paused: z.boolean(),
    reason: z.string().nullable().openapi({ description: "Why it was last paused or resumed" }),
    changed_by: z.string().nullable(),
    changed_at: z.string().nullable(),
    last_run: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: "Summary of the last run (jobs that record one)" }),
    last_run_at: z.string().nullable(),
  })
  .openapi("JobStatus");

export const ReasonBody = z
  .object({
    reason: z.string().min(1).max(500).openapi({ description: "Recorded with the actor in the audit trail" }),
  })
  .strict()
  .openapi("OperatorReason");
