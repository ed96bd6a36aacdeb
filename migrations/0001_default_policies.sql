-- Global default approval policy, one row per policy type (tenant/agent/skill NULL = any).
-- Kept in a migration, not a dev seed, so every environment has rows for the runbook's emergency
-- "UPDATE policy_approval_levels SET approval_level = 'manual_approve'" to act on.
INSERT INTO "policy_approval_levels" ("policy_type", "approval_level", "auto_approve_max_cost_cents", "auto_approve_max_tokens", "escalation_timeout_seconds")
VALUES
  ('cost', 'agent_approve', 100, 1000, 300),
  ('capability', 'agent_approve', 100, 1000, 300),
  ('resource', 'agent_approve', 100, 1000, 300),
  ('rate_limit', 'agent_approve', 100, 1000, 300)
ON CONFLICT ON CONSTRAINT "policy_approval_levels_scope_key" DO NOTHING;
