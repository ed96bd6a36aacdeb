-- Rollback of 0003_policy_model.
DROP TABLE IF EXISTS "policy_decisions";
--> statement-breakpoint
DROP TABLE IF EXISTS "policy_set_version";
--> statement-breakpoint
DROP TABLE IF EXISTS "policy_settings";
--> statement-breakpoint
DROP TABLE IF EXISTS "skill_costs";
--> statement-breakpoint
DROP TABLE IF EXISTS "spend_ledger";
--> statement-breakpoint
DROP TABLE IF EXISTS "budgets";
--> statement-breakpoint
DROP TABLE IF EXISTS "capability_rules";
