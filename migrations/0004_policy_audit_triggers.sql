-- The single rows of policy_settings and policy_set_version.
INSERT INTO "policy_settings" ("id") VALUES (1) ON CONFLICT DO NOTHING;
--> statement-breakpoint
INSERT INTO "policy_set_version" ("id", "version") VALUES (1, 1) ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- Every change to a policy table, through the admin API or by hand-written SQL (the runbook's
-- emergency UPDATEs), writes an audit event and bumps the policy-set version. The API names the actor
-- with set_config('policy.actor', ..., true) inside its transaction; plain SQL is recorded as
-- 'sql:<database user>'.
CREATE OR REPLACE FUNCTION policy_change_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_row jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
  new_row jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
  current_row jsonb := coalesce(new_row, old_row);
BEGIN
  -- An UPDATE that changed nothing (e.g. setting a value it already had) is not a policy change.
  IF TG_OP = 'UPDATE' AND old_row - 'updated_at' = new_row - 'updated_at' THEN
    RETURN NULL;
  END IF;
  INSERT INTO audit_events (actor, actor_key_id, action, target_type, target_id, before, after, request_id)
  VALUES (
    coalesce(nullif(current_setting('policy.actor', true), ''), 'sql:' || session_user),
    nullif(current_setting('policy.actor_key_id', true), ''),
    TG_TABLE_NAME || '.' || lower(TG_OP),
    TG_TABLE_NAME,
    coalesce(current_row ->> 'id', current_row ->> 'skill_id'),
    old_row,
    new_row,
    nullif(current_setting('policy.request_id', true), '')
  );
  UPDATE policy_set_version SET version = version + 1, updated_at = now() WHERE id = 1;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER policy_approval_levels_audit AFTER INSERT OR UPDATE OR DELETE ON policy_approval_levels
  FOR EACH ROW EXECUTE FUNCTION policy_change_audit();
--> statement-breakpoint
CREATE TRIGGER capability_rules_audit AFTER INSERT OR UPDATE OR DELETE ON capability_rules
  FOR EACH ROW EXECUTE FUNCTION policy_change_audit();
--> statement-breakpoint
CREATE TRIGGER budgets_audit AFTER INSERT OR UPDATE OR DELETE ON budgets
  FOR EACH ROW EXECUTE FUNCTION policy_change_audit();
--> statement-breakpoint
CREATE TRIGGER skill_costs_audit AFTER INSERT OR UPDATE OR DELETE ON skill_costs
  FOR EACH ROW EXECUTE FUNCTION policy_change_audit();
--> statement-breakpoint
CREATE TRIGGER policy_settings_audit AFTER INSERT OR UPDATE OR DELETE ON policy_settings
  FOR EACH ROW EXECUTE FUNCTION policy_change_audit();
