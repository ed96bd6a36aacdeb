-- Undoes 0023_push_subscriptions: push deliveries and subscriptions are dropped, and the outbox's
-- channels are those of 0022 again.
DELETE FROM "webhook_outbox" WHERE "channel" = 'push';
ALTER TABLE "webhook_outbox" DROP CONSTRAINT IF EXISTS "webhook_outbox_channel_valid";
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_channel_valid" CHECK ("webhook_outbox"."channel" IN ('request_webhook', 'email', 'teams', 'google_chat', 'webhook', 'slack'));
ALTER TABLE "webhook_outbox" DROP COLUMN IF EXISTS "push_subscription_id";
DROP TABLE IF EXISTS "push_subscriptions";
