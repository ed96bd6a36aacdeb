-- Rollback of 0000_initial_schema.
DROP TABLE IF EXISTS "policy_approval_levels";
--> statement-breakpoint
DROP TABLE IF EXISTS "approval_requests";
