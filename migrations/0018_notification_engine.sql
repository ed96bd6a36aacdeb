-- The notification engine (issue 25): notification_plans holds what to tell people about a request
-- (written by the transition that needs telling, or claimed by the cron's reminders) until planning
-- turns it into deliveries; webhook_outbox carries those deliveries beside the requests' own webhook
-- events (channel), so one queue, consumer, retry policy, dead-letter queue, attempt record and pause
-- switch serve both. Existing outbox rows are request webhooks (the column default).
CREATE TABLE "notification_plans" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"plan_key" text NOT NULL,
	"kind" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"planned_at" timestamp with time zone,
	"deliveries" integer,
	CONSTRAINT "notification_plans_request_key" UNIQUE("request_id","plan_key"),
	CONSTRAINT "notification_plans_kind_valid" CHECK ("notification_plans"."kind" IN ('approval_needed', 'escalated', 'reminder', 'decided'))
);
--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD COLUMN "channel" text DEFAULT 'request_webhook' NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD COLUMN "contact_id" bigint;--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD COLUMN "recipient_id" text;--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD COLUMN "on_behalf_of" text;--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD COLUMN "notification_kind" text;--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD COLUMN "plan_id" bigint;--> statement-breakpoint
CREATE INDEX "notification_plans_unplanned_idx" ON "notification_plans" USING btree ("created_at") WHERE "notification_plans"."planned_at" IS NULL;--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_channel_valid" CHECK ("webhook_outbox"."channel" IN ('request_webhook', 'email', 'teams', 'google_chat', 'webhook'));--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_notification_shape" CHECK (("webhook_outbox"."channel" = 'request_webhook') = ("webhook_outbox"."notification_kind" IS NULL));--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_notification_kind_valid" CHECK ("webhook_outbox"."notification_kind" IS NULL OR "webhook_outbox"."notification_kind" IN ('approval_needed', 'escalated', 'reminder', 'decided'));