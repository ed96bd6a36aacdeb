-- A status change made by hand-written SQL (the runbook's "Mass Reject Pending Requests") bypasses
-- the service's transition statement. This trigger gives it what the service would have: a history
-- entry (actor 'sql:<database user>'), updated_at, a version bump (so in-flight compare-and-swaps
-- lose and re-read), resolved_at for final statuses, and the webhook event in the outbox.
-- The service's own transitions append history themselves, so the trigger leaves them alone.
CREATE OR REPLACE FUNCTION approval_requests_record_raw_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS NOT DISTINCT FROM OLD.status OR NEW.status_history_json IS DISTINCT FROM OLD.status_history_json THEN
    RETURN NEW;
  END IF;
  NEW.status_history_json := OLD.status_history_json || jsonb_build_array(jsonb_build_object(
    'from_status', OLD.status,
    'to_status', NEW.status,
    'actor', 'sql:' || session_user,
    'reason', 'status changed by SQL outside the API',
    'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  ));
  NEW.updated_at := now();
  NEW.version := OLD.version + 1;
  IF NEW.status IN ('approved', 'rejected', 'expired', 'cancelled', 'auto_approved') AND NEW.resolved_at IS NULL THEN
    NEW.resolved_at := now();
  END IF;
  IF NEW.webhook_url IS NOT NULL AND NEW.status IN ('approved', 'rejected', 'expired', 'cancelled', 'escalated') THEN
    INSERT INTO webhook_outbox (request_id, event, payload)
    VALUES (NEW.id, 'approval_request_' || NEW.status, jsonb_build_object(
      'event', 'approval_request_' || NEW.status, 'request_id', NEW.id, 'correlation_id', NEW.correlation_id,
      'status', NEW.status, 'tenant_id', NEW.tenant_id, 'skill_id', NEW.skill_id,
      'required_level', NEW.required_level, 'current_level', NEW.current_level,
      'actor', 'sql:' || session_user, 'reason', 'status changed by SQL outside the API',
      'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER approval_requests_raw_status_change BEFORE UPDATE OF status ON approval_requests
  FOR EACH ROW EXECUTE FUNCTION approval_requests_record_raw_status_change();
