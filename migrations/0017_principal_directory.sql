-- The principal directory (issue 25): contact points (how a principal, or a tenant as a whole, is
-- reached: email, Teams, Google Chat, a signed approver webhook; URLs and secrets sealed) and
-- delegations (who stands in for whom, for a period). Changes are audited by the services that make
-- them (audit_events, chained by 0014's trigger); view_token_uses makes a notification link open once.
CREATE TABLE "contact_points" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"principal_id" text,
	"tenant_id" text,
	"channel" text NOT NULL,
	"address" text NOT NULL,
	"url_encrypted" text,
	"secret_encrypted" text,
	"target_fingerprint" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "contact_points_target_key" UNIQUE NULLS NOT DISTINCT("principal_id","tenant_id","channel","target_fingerprint"),
	CONSTRAINT "contact_points_channel_valid" CHECK ("contact_points"."channel" IN ('email', 'teams', 'google_chat', 'webhook')),
	CONSTRAINT "contact_points_owner" CHECK ("contact_points"."principal_id" IS NOT NULL OR "contact_points"."tenant_id" IS NOT NULL),
	CONSTRAINT "contact_points_url_sealed" CHECK (("contact_points"."channel" = 'email') = ("contact_points"."url_encrypted" IS NULL)),
	CONSTRAINT "contact_points_secret_only_for_webhooks" CHECK ("contact_points"."secret_encrypted" IS NULL OR "contact_points"."channel" = 'webhook')
);
--> statement-breakpoint
CREATE TABLE "delegations" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"delegate_id" text NOT NULL,
	"tenant_id" text,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"reason" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoked_by" text,
	CONSTRAINT "delegations_not_self" CHECK ("delegations"."principal_id" <> "delegations"."delegate_id"),
	CONSTRAINT "delegations_period" CHECK ("delegations"."ends_at" > "delegations"."starts_at")
);
--> statement-breakpoint
CREATE TABLE "view_token_uses" (
	"jti" text PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"used_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "contact_points_principal_idx" ON "contact_points" USING btree ("principal_id");--> statement-breakpoint
CREATE INDEX "contact_points_tenant_idx" ON "contact_points" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "delegations_delegate_idx" ON "delegations" USING btree ("delegate_id","ends_at");--> statement-breakpoint
CREATE INDEX "delegations_principal_idx" ON "delegations" USING btree ("principal_id","ends_at");--> statement-breakpoint
CREATE INDEX "view_token_uses_expires_idx" ON "view_token_uses" USING btree ("expires_at");