-- Rollback of 0006_approval_lifecycle.
DROP INDEX IF EXISTS "approval_requests_list_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "approval_requests_idempotency_key";
--> statement-breakpoint
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "create_response";
--> statement-breakpoint
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "idempotency_body_hash";
--> statement-breakpoint
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "idempotency_key";
--> statement-breakpoint
DROP TABLE IF EXISTS "webhook_outbox";
