-- Rollback of 0009_escalation.
DROP INDEX IF EXISTS "approval_requests_open_expiry_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "approval_requests_escalation_due_idx";
--> statement-breakpoint
ALTER TABLE "policy_approval_levels" DROP COLUMN IF EXISTS "escalation_chain";
--> statement-breakpoint
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "escalation_tier";
--> statement-breakpoint
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "escalation_deadline";
--> statement-breakpoint
DROP TABLE IF EXISTS "job_controls";
