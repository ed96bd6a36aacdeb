-- Undoes 0019_slack: Slack deliveries and progress plans go, the outbox and plan constraints return to
-- 0018's, and the Slack tables are dropped (their audit events stay in the chain).
DELETE FROM "webhook_attempts" WHERE "delivery_id" IN (SELECT "id" FROM "webhook_outbox" WHERE "channel" = 'slack' OR "notification_kind" = 'progress');
DELETE FROM "webhook_outbox" WHERE "channel" = 'slack' OR "notification_kind" = 'progress';
DELETE FROM "notification_plans" WHERE "kind" = 'progress';
ALTER TABLE "webhook_outbox" DROP CONSTRAINT IF EXISTS "webhook_outbox_channel_valid";
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_channel_valid" CHECK ("webhook_outbox"."channel" IN ('request_webhook', 'email', 'teams', 'google_chat', 'webhook'));
ALTER TABLE "webhook_outbox" DROP CONSTRAINT IF EXISTS "webhook_outbox_notification_kind_valid";
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_notification_kind_valid" CHECK ("webhook_outbox"."notification_kind" IS NULL OR "webhook_outbox"."notification_kind" IN ('approval_needed', 'escalated', 'reminder', 'decided'));
ALTER TABLE "notification_plans" DROP CONSTRAINT IF EXISTS "notification_plans_kind_valid";
ALTER TABLE "notification_plans" ADD CONSTRAINT "notification_plans_kind_valid" CHECK ("notification_plans"."kind" IN ('approval_needed', 'escalated', 'reminder', 'decided'));
DROP TABLE IF EXISTS "slack_interaction_receipts";
DROP TABLE IF EXISTS "slack_messages";
DROP TABLE IF EXISTS "slack_user_links";
DROP TABLE IF EXISTS "slack_workspaces";
