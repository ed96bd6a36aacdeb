CREATE TABLE "approval_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"correlation_id" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"status_history_json" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"policy_type" text NOT NULL,
	"skill_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" text,
	"payload" jsonb NOT NULL,
	"payload_hash" text NOT NULL,
	"requested_by" text NOT NULL,
	"justification" text,
	"required_level" smallint NOT NULL,
	"current_level" smallint DEFAULT 0 NOT NULL,
	"required_approvals" smallint DEFAULT 1 NOT NULL,
	"approvals_json" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"escalate_to" text,
	"escalation_timeout_seconds" integer DEFAULT 300 NOT NULL,
	"escalated_at" timestamp with time zone,
	"policy_snapshot" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"estimated_cost_cents" integer DEFAULT 0 NOT NULL,
	"webhook_url" text,
	"webhook_secret_encrypted" text,
	"webhook_key_version" integer,
	"webhook_attempts" integer DEFAULT 0 NOT NULL,
	"last_webhook_status" text,
	"last_webhook_at" timestamp with time zone,
	"version" integer DEFAULT 1 NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "approval_requests_id_format" CHECK ("approval_requests"."id" ~ '^apr_[0-9a-f]{16}$'),
	CONSTRAINT "approval_requests_status_valid" CHECK ("approval_requests"."status" IN ('pending', 'approved', 'rejected', 'escalated', 'expired', 'auto_approved', 'cancelled')),
	CONSTRAINT "approval_requests_policy_type_valid" CHECK ("approval_requests"."policy_type" IN ('cost', 'capability', 'resource', 'rate_limit')),
	CONSTRAINT "approval_requests_required_level_range" CHECK ("approval_requests"."required_level" BETWEEN 1 AND 5),
	CONSTRAINT "approval_requests_current_level_range" CHECK ("approval_requests"."current_level" BETWEEN 0 AND 5),
	CONSTRAINT "approval_requests_required_approvals_positive" CHECK ("approval_requests"."required_approvals" >= 1),
	CONSTRAINT "approval_requests_webhook_attempts_nonnegative" CHECK ("approval_requests"."webhook_attempts" >= 0)
);
--> statement-breakpoint
CREATE TABLE "policy_approval_levels" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"policy_type" text NOT NULL,
	"tenant_id" text,
	"agent_id" text,
	"skill_id" text,
	"approval_level" text DEFAULT 'agent_approve' NOT NULL,
	"auto_approve_max_cost_cents" integer DEFAULT 100 NOT NULL,
	"auto_approve_max_tokens" integer DEFAULT 1000 NOT NULL,
	"escalate_to" text,
	"escalation_timeout_seconds" integer DEFAULT 300 NOT NULL,
	"required_approvals" smallint DEFAULT 1 NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "policy_approval_levels_scope_key" UNIQUE NULLS NOT DISTINCT("policy_type","tenant_id","agent_id","skill_id"),
	CONSTRAINT "policy_approval_levels_policy_type_valid" CHECK ("policy_approval_levels"."policy_type" IN ('cost', 'capability', 'resource', 'rate_limit')),
	CONSTRAINT "policy_approval_levels_ceilings_nonnegative" CHECK ("policy_approval_levels"."auto_approve_max_cost_cents" >= 0 AND "policy_approval_levels"."auto_approve_max_tokens" >= 0),
	CONSTRAINT "policy_approval_levels_timeout_positive" CHECK ("policy_approval_levels"."escalation_timeout_seconds" > 0),
	CONSTRAINT "policy_approval_levels_required_approvals_positive" CHECK ("policy_approval_levels"."required_approvals" >= 1)
);
--> statement-breakpoint
CREATE UNIQUE INDEX "approval_requests_correlation_id_key" ON "approval_requests" USING btree ("correlation_id");--> statement-breakpoint
CREATE INDEX "approval_requests_status_tenant_idx" ON "approval_requests" USING btree ("status","tenant_id");--> statement-breakpoint
CREATE INDEX "approval_requests_expires_status_idx" ON "approval_requests" USING btree ("expires_at","status");--> statement-breakpoint
CREATE INDEX "approval_requests_created_status_idx" ON "approval_requests" USING btree ("created_at","status");--> statement-breakpoint
CREATE INDEX "approval_requests_pending_idx" ON "approval_requests" USING btree ("tenant_id","created_at") WHERE "approval_requests"."status" = 'pending';