-- Rollback of 0001_default_policies: remove the global default rows (scoped rows are left alone).
DELETE FROM "policy_approval_levels"
WHERE "tenant_id" IS NULL AND "agent_id" IS NULL AND "skill_id" IS NULL;
