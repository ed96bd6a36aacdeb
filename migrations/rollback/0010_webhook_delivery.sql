-- Rollback of 0010_webhook_delivery.
DELETE FROM "job_controls" WHERE "job" = 'webhooks';
--> statement-breakpoint
ALTER TABLE "webhook_outbox" DROP CONSTRAINT IF EXISTS "webhook_outbox_status_valid";
--> statement-breakpoint
DROP INDEX IF EXISTS "webhook_outbox_pending_idx";
--> statement-breakpoint
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "last_attempt_at";
--> statement-breakpoint
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "enqueued_at";
--> statement-breakpoint
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "status";
--> statement-breakpoint
DROP TABLE IF EXISTS "webhook_attempts";
