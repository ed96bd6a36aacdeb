-- Rollback of 0002_api_keys_and_audit.
DROP TABLE IF EXISTS "audit_events";
--> statement-breakpoint
DROP TABLE IF EXISTS "api_keys";
--> statement-breakpoint
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "created_by_key_id";
