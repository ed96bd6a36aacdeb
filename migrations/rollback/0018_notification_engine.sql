-- Undoes 0018_notification_engine: notification deliveries go with their columns (request webhook
-- events stay), and the plans table.
DELETE FROM "webhook_attempts" WHERE "delivery_id" IN (SELECT "id" FROM "webhook_outbox" WHERE "channel" <> 'request_webhook');
DELETE FROM "webhook_outbox" WHERE "channel" <> 'request_webhook';
ALTER TABLE "webhook_outbox" DROP CONSTRAINT IF EXISTS "webhook_outbox_notification_kind_valid";
ALTER TABLE "webhook_outbox" DROP CONSTRAINT IF EXISTS "webhook_outbox_notification_shape";
ALTER TABLE "webhook_outbox" DROP CONSTRAINT IF EXISTS "webhook_outbox_channel_valid";
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "plan_id";
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "notification_kind";
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "on_behalf_of";
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "recipient_id";
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "contact_id";
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "channel";
DROP TABLE IF EXISTS "notification_plans";
