-- Rollback of 0004_policy_audit_triggers.
DROP TRIGGER IF EXISTS policy_settings_audit ON policy_settings;
--> statement-breakpoint
DROP TRIGGER IF EXISTS skill_costs_audit ON skill_costs;
--> statement-breakpoint
DROP TRIGGER IF EXISTS budgets_audit ON budgets;
--> statement-breakpoint
DROP TRIGGER IF EXISTS capability_rules_audit ON capability_rules;
--> statement-breakpoint
DROP TRIGGER IF EXISTS policy_approval_levels_audit ON policy_approval_levels;
--> statement-breakpoint
DROP FUNCTION IF EXISTS policy_change_audit();
--> statement-breakpoint
DELETE FROM policy_set_version WHERE id = 1;
--> statement-breakpoint
DELETE FROM policy_settings WHERE id = 1;
