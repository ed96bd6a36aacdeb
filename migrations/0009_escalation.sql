CREATE TABLE "job_controls" (
	"job" text PRIMARY KEY NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"reason" text,
	"changed_by" text,
	"changed_at" timestamp with time zone,
	"last_run" jsonb,
	"last_run_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "escalation_deadline" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "escalation_tier" smallint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "policy_approval_levels" ADD COLUMN "escalation_chain" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
CREATE INDEX "approval_requests_escalation_due_idx" ON "approval_requests" USING btree ("escalation_deadline") WHERE "approval_requests"."status" IN ('pending', 'escalated') AND "approval_requests"."escalation_deadline" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "approval_requests_open_expiry_idx" ON "approval_requests" USING btree ("expires_at") WHERE "approval_requests"."status" IN ('pending', 'escalated');--> statement-breakpoint
INSERT INTO "job_controls" ("job") VALUES ('escalation') ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- Requests still waiting when this lands get the deadline their policy gave them at creation.
UPDATE "approval_requests"
  SET "escalation_deadline" = "created_at" + "escalation_timeout_seconds" * interval '1 second'
  WHERE "status" = 'pending' AND "escalation_deadline" IS NULL;
