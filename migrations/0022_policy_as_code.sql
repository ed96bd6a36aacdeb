-- Policy as code (issue 29): candidate bundles (planned against traffic, or shadowing the live policy)
-- and, on the decision log, what an evaluation read besides the policy (tokens, whether cost was
-- simulated, spend to date) so a plan can replay it, and what a shadowing candidate would have answered.
CREATE TABLE "policy_candidates" (
	"id" text PRIMARY KEY NOT NULL,
	"scope" text NOT NULL,
	"bundle" jsonb NOT NULL,
	"bundle_sha256" text NOT NULL,
	"base_sha256" text NOT NULL,
	"description" text,
	"shadow" boolean DEFAULT false NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "policy_candidates_scope_valid" CHECK ("policy_candidates"."scope" = '*' OR "policy_candidates"."scope" ~ '^[a-z0-9_.@:/-]+$')
);
--> statement-breakpoint
ALTER TABLE "policy_decisions" ADD COLUMN "tokens" integer;--> statement-breakpoint
ALTER TABLE "policy_decisions" ADD COLUMN "simulate_cost" boolean;--> statement-breakpoint
ALTER TABLE "policy_decisions" ADD COLUMN "spend" jsonb;--> statement-breakpoint
ALTER TABLE "policy_decisions" ADD COLUMN "shadow_candidate_id" text;--> statement-breakpoint
ALTER TABLE "policy_decisions" ADD COLUMN "shadow_decision" text;--> statement-breakpoint
ALTER TABLE "policy_decisions" ADD COLUMN "shadow_level" smallint;--> statement-breakpoint
CREATE UNIQUE INDEX "policy_candidates_one_shadow_per_scope" ON "policy_candidates" USING btree ("scope") WHERE "policy_candidates"."shadow";--> statement-breakpoint
CREATE INDEX "policy_decisions_shadow_idx" ON "policy_decisions" USING btree ("shadow_candidate_id","created_at") WHERE "policy_decisions"."shadow_candidate_id" IS NOT NULL;--> statement-breakpoint
ALTER TABLE "policy_decisions" ADD CONSTRAINT "policy_decisions_shadow_decision_valid" CHECK ("policy_decisions"."shadow_decision" IS NULL OR "policy_decisions"."shadow_decision" IN ('allow', 'deny', 'requires_approval'));