-- Web Push (issue 31): the browsers that take a principal's push notifications, and on the outbox the
-- subscription a `push` delivery goes to (the new channel).
CREATE TABLE "push_subscriptions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"endpoint" text NOT NULL,
	"p256dh" text NOT NULL,
	"auth" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_success_at" timestamp with time zone,
	"last_failure_at" timestamp with time zone,
	CONSTRAINT "push_subscriptions_endpoint_key" UNIQUE("endpoint"),
	CONSTRAINT "push_subscriptions_endpoint_https" CHECK ("push_subscriptions"."endpoint" ~ '^https?://')
);
--> statement-breakpoint
ALTER TABLE "webhook_outbox" DROP CONSTRAINT "webhook_outbox_channel_valid";--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD COLUMN "push_subscription_id" bigint;--> statement-breakpoint
CREATE INDEX "push_subscriptions_principal_idx" ON "push_subscriptions" USING btree ("principal_id");--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_channel_valid" CHECK ("webhook_outbox"."channel" IN ('request_webhook', 'email', 'teams', 'google_chat', 'webhook', 'slack', 'push'));