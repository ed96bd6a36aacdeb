CREATE TABLE "budgets" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" text,
	"period" text NOT NULL,
	"limit_cents" bigint NOT NULL,
	"enforcement" text DEFAULT 'hard' NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "budgets_scope_key" UNIQUE NULLS NOT DISTINCT("tenant_id","agent_id","period"),
	CONSTRAINT "budgets_period_valid" CHECK ("budgets"."period" IN ('day', 'month')),
	CONSTRAINT "budgets_enforcement_valid" CHECK ("budgets"."enforcement" IN ('hard', 'soft')),
	CONSTRAINT "budgets_limit_nonnegative" CHECK ("budgets"."limit_cents" >= 0)
);
--> statement-breakpoint
CREATE TABLE "capability_rules" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" text,
	"skill_pattern" text NOT NULL,
	"effect" text NOT NULL,
	"approval_level" text,
	"description" text,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "capability_rules_scope_key" UNIQUE NULLS NOT DISTINCT("tenant_id","agent_id","skill_pattern"),
	CONSTRAINT "capability_rules_effect_valid" CHECK ("capability_rules"."effect" IN ('allow', 'deny', 'require_approval')),
	CONSTRAINT "capability_rules_pattern_format" CHECK ("capability_rules"."skill_pattern" ~ '^([^*]+[*]?|[*])$')
);
--> statement-breakpoint
CREATE TABLE "policy_decisions" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" text,
	"skill_id" text NOT NULL,
	"policy_type" text NOT NULL,
	"decision" text NOT NULL,
	"approval_level_required" smallint NOT NULL,
	"simulated_cost_cents" integer NOT NULL,
	"policy_version" bigint NOT NULL,
	"overrides_used" boolean DEFAULT false NOT NULL,
	"reasons" jsonb NOT NULL,
	"violations" jsonb NOT NULL,
	"checks" jsonb NOT NULL,
	"principal_id" text NOT NULL,
	"key_id" text NOT NULL,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "policy_decisions_decision_valid" CHECK ("policy_decisions"."decision" IN ('allow', 'deny', 'requires_approval'))
);
--> statement-breakpoint
CREATE TABLE "policy_set_version" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"version" bigint DEFAULT 1 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "policy_set_version_single_row" CHECK ("policy_set_version"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "policy_settings" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"capability_default_effect" text DEFAULT 'allow' NOT NULL,
	"unknown_skill_cost_cents" integer DEFAULT 10 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "policy_settings_single_row" CHECK ("policy_settings"."id" = 1),
	CONSTRAINT "policy_settings_default_effect_valid" CHECK ("policy_settings"."capability_default_effect" IN ('allow', 'deny', 'require_approval')),
	CONSTRAINT "policy_settings_unknown_cost_nonnegative" CHECK ("policy_settings"."unknown_skill_cost_cents" >= 0)
);
--> statement-breakpoint
CREATE TABLE "skill_costs" (
	"skill_id" text PRIMARY KEY NOT NULL,
	"base_cents" integer DEFAULT 0 NOT NULL,
	"cents_per_1k_tokens" integer DEFAULT 0 NOT NULL,
	"description" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "skill_costs_nonnegative" CHECK ("skill_costs"."base_cents" >= 0 AND "skill_costs"."cents_per_1k_tokens" >= 0)
);
--> statement-breakpoint
CREATE TABLE "spend_ledger" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" text,
	"skill_id" text,
	"amount_cents" bigint NOT NULL,
	"source" text NOT NULL,
	"reference" text NOT NULL,
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "spend_ledger_source_valid" CHECK ("spend_ledger"."source" IN ('approval', 'auto_approval', 'usage')),
	CONSTRAINT "spend_ledger_amount_nonnegative" CHECK ("spend_ledger"."amount_cents" >= 0)
);
--> statement-breakpoint
CREATE INDEX "policy_decisions_tenant_created_idx" ON "policy_decisions" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "policy_decisions_created_idx" ON "policy_decisions" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "spend_ledger_reference_key" ON "spend_ledger" USING btree ("source","reference");--> statement-breakpoint
CREATE INDEX "spend_ledger_tenant_time_idx" ON "spend_ledger" USING btree ("tenant_id","occurred_at");--> statement-breakpoint
CREATE INDEX "spend_ledger_agent_time_idx" ON "spend_ledger" USING btree ("tenant_id","agent_id","occurred_at");