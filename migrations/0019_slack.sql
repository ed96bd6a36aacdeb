-- Slack (issue 26): a tenant's workspace (bot token and signing secret sealed), verified links between
-- Slack users and principals, the messages posted per request (updated on the outcome), and the
-- interactions already taken (a replayed one is refused). The outbox learns the slack channel and the
-- progress kind (an approval of a quorum updates posted messages). Changes to workspaces and links are
-- audited by the services that make them (audit_events).
CREATE TABLE "slack_interaction_receipts" (
	"signature_hash" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "slack_messages" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"channel" text NOT NULL,
	"ts" text NOT NULL,
	"delivery_id" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone,
	CONSTRAINT "slack_messages_channel_ts_key" UNIQUE("channel","ts")
);
--> statement-breakpoint
CREATE TABLE "slack_user_links" (
	"team_id" text NOT NULL,
	"slack_user_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"method" text NOT NULL,
	"linked_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "slack_user_links_team_id_slack_user_id_pk" PRIMARY KEY("team_id","slack_user_id"),
	CONSTRAINT "slack_user_links_method_valid" CHECK ("slack_user_links"."method" IN ('admin', 'console'))
);
--> statement-breakpoint
CREATE TABLE "slack_workspaces" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"team_id" text NOT NULL,
	"bot_token_encrypted" text NOT NULL,
	"signing_secret_encrypted" text NOT NULL,
	"default_channel" text NOT NULL,
	"routes" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"max_decide_level" smallint DEFAULT 4 NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_by" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "slack_workspaces_max_decide_level_range" CHECK ("slack_workspaces"."max_decide_level" BETWEEN 1 AND 5)
);
--> statement-breakpoint
ALTER TABLE "notification_plans" DROP CONSTRAINT "notification_plans_kind_valid";--> statement-breakpoint
ALTER TABLE "webhook_outbox" DROP CONSTRAINT "webhook_outbox_channel_valid";--> statement-breakpoint
ALTER TABLE "webhook_outbox" DROP CONSTRAINT "webhook_outbox_notification_kind_valid";--> statement-breakpoint
CREATE INDEX "slack_interaction_receipts_expires_idx" ON "slack_interaction_receipts" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "slack_messages_request_idx" ON "slack_messages" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "slack_user_links_principal_idx" ON "slack_user_links" USING btree ("principal_id");--> statement-breakpoint
CREATE INDEX "slack_workspaces_team_idx" ON "slack_workspaces" USING btree ("team_id");--> statement-breakpoint
ALTER TABLE "notification_plans" ADD CONSTRAINT "notification_plans_kind_valid" CHECK ("notification_plans"."kind" IN ('approval_needed', 'escalated', 'reminder', 'decided', 'progress'));--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_channel_valid" CHECK ("webhook_outbox"."channel" IN ('request_webhook', 'email', 'teams', 'google_chat', 'webhook', 'slack'));--> statement-breakpoint
ALTER TABLE "webhook_outbox" ADD CONSTRAINT "webhook_outbox_notification_kind_valid" CHECK ("webhook_outbox"."notification_kind" IS NULL OR "webhook_outbox"."notification_kind" IN ('approval_needed', 'escalated', 'reminder', 'decided', 'progress'));