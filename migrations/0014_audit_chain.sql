CREATE TABLE "audit_chain" (
	"chain_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"kind" text NOT NULL,
	"source_table" text NOT NULL,
	"source_id" text NOT NULL,
	"content" text NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_chain_chain_id_seq_pk" PRIMARY KEY("chain_id","seq"),
	CONSTRAINT "audit_chain_seq_positive" CHECK ("audit_chain"."seq" >= 1),
	CONSTRAINT "audit_chain_hash_format" CHECK ("audit_chain"."hash" ~ '^[0-9a-f]{64}$' AND "audit_chain"."prev_hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
-- The tamper-evident audit trail (issue 17). Every audit record is appended to a hash chain by a
-- trigger, in the same statement and transaction as the change it records, so raw SQL is chained
-- exactly like the API's own writes. One chain per tenant (chain_id = tenant id) plus the global
-- chain '*' for records without a tenant: a tenant's export is contiguous and verifiable on its own,
-- and writers of different tenants never wait for each other.
--
-- hash = sha256(prev_hash || '\n' || chain_id || '\n' || seq || '\n' || content), hex; the first
-- record of a chain has prev_hash = 64 zeros. content is jsonb rendered as text (jsonb normalises
-- key order and spacing) and kept as text: a verifier hashes the exact bytes an export carries.
CREATE FUNCTION audit_chain_time(p_at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
--> statement-breakpoint
-- Appending takes a transaction-scoped advisory lock on the chain, then reads the chain's head and
-- inserts seq + 1. The lock is held until the writer's transaction ends, so concurrent writers of one
-- chain run this one after another: the next writer's read (a fresh snapshot under READ COMMITTED,
-- taken after the lock is granted) sees the previous writer's committed record, and a writer that
-- rolls back leaves no record behind. The chain can neither fork nor reorder. Other chains hash to
-- other lock keys, so tenants do not contend (a rare 64-bit collision only makes two chains share a
-- lock). The primary key (chain_id, seq) is the backstop: a writer that read a stale head (say, in a
-- REPEATABLE READ transaction that began before the lock) fails with a unique violation rather than
-- forking the chain. Cheaper than a heads table: no extra row to update, and the head is found by a
-- backward scan of the primary key.
CREATE FUNCTION audit_chain_append(p_chain text, p_kind text, p_source_table text, p_source_id text, p_content jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  body text := p_content::text;
  last_seq bigint;
  last_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('audit_chain:' || p_chain, 0));
  SELECT seq, hash INTO last_seq, last_hash FROM audit_chain WHERE chain_id = p_chain ORDER BY seq DESC LIMIT 1;
  last_seq := coalesce(last_seq, 0) + 1;
  last_hash := coalesce(last_hash, repeat('0', 64));
  INSERT INTO audit_chain (chain_id, seq, kind, source_table, source_id, content, prev_hash, hash)
  VALUES (p_chain, last_seq, p_kind, p_source_table, p_source_id, body, last_hash,
          encode(sha256(convert_to(last_hash || E'\n' || p_chain || E'\n' || last_seq::text || E'\n' || body, 'UTF8')), 'hex'));
END
$$;
--> statement-breakpoint
-- The chain of an audit event: the tenant of the row it describes (after, else before), for a key
-- the key's tenant (a revocation's row names none), else the global chain.
CREATE FUNCTION audit_chain_event_chain(p_event audit_events) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(p_event.after ->> 'tenant_id', ''),
    nullif(p_event.before ->> 'tenant_id', ''),
    CASE WHEN p_event.target_type = 'api_key' THEN (SELECT tenant_id FROM api_keys WHERE id = p_event.target_id) END,
    '*')
$$;
--> statement-breakpoint
CREATE FUNCTION audit_chain_event_content(p_event audit_events) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', p_event.id, 'actor', p_event.actor, 'actor_key_id', p_event.actor_key_id, 'action', p_event.action,
    'target_type', p_event.target_type, 'target_id', p_event.target_id, 'before', p_event.before,
    'after', p_event.after, 'request_id', p_event.request_id, 'created_at', audit_chain_time(p_event.created_at))
$$;
--> statement-breakpoint
-- audit_events is append-only: policy changes (the 0004 triggers), key changes, switches and
-- emergency operations all land there, and each new row is chained. An UPDATE or DELETE of a row,
-- which only raw SQL does, is chained too, so rewriting the audit trail leaves a trace.
CREATE FUNCTION audit_chain_audit_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM audit_chain_append(audit_chain_event_chain(NEW), 'audit_event', 'audit_events', NEW.id::text,
                               audit_chain_event_content(NEW));
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM audit_chain_append(audit_chain_event_chain(OLD), 'audit_event.updated', 'audit_events', OLD.id::text,
      jsonb_build_object('actor', 'sql:' || session_user, 'old', audit_chain_event_content(OLD),
                         'new', audit_chain_event_content(NEW)));
  ELSE
    PERFORM audit_chain_append(audit_chain_event_chain(OLD), 'audit_event.deleted', 'audit_events', OLD.id::text,
      jsonb_build_object('actor', 'sql:' || session_user, 'old', audit_chain_event_content(OLD)));
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER audit_events_chain AFTER INSERT OR UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_chain_audit_events();
--> statement-breakpoint
-- The elements p_new appends to p_old, or NULL when p_new does not start with p_old (entries were
-- edited or removed).
CREATE FUNCTION audit_chain_appended(p_old jsonb, p_new jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN jsonb_typeof(p_old) <> 'array' OR jsonb_typeof(p_new) <> 'array' THEN NULL
    WHEN coalesce((SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(p_new) WITH ORDINALITY AS t(e, i)
                   WHERE i <= jsonb_array_length(p_old)), '[]'::jsonb) = p_old
      THEN coalesce((SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(p_new) WITH ORDINALITY AS t(e, i)
                     WHERE i > jsonb_array_length(p_old)), '[]'::jsonb)
  END
$$;
--> statement-breakpoint
-- Approval requests: the creation; each change of status_history_json or approvals_json (the
-- service's transitions and approvals, the 0007 trigger's record of a raw status change) with just
-- what it appended; a history or approvals rewritten by SQL in full; a deletion. Small on purpose: the
-- payload is represented by its hash (payload_hash), never copied.
CREATE FUNCTION audit_chain_approval_requests() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  history jsonb;
  approvals jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM audit_chain_append(NEW.tenant_id, 'approval_request.created', 'approval_requests', NEW.id,
      jsonb_build_object(
        'request_id', NEW.id, 'tenant_id', NEW.tenant_id, 'skill_id', NEW.skill_id, 'policy_type', NEW.policy_type,
        'agent_id', NEW.agent_id, 'requested_by', NEW.requested_by, 'required_level', NEW.required_level,
        'payload_hash', NEW.payload_hash, 'status', NEW.status, 'version', NEW.version,
        'history', NEW.status_history_json, 'approvals', NEW.approvals_json,
        'created_at', audit_chain_time(NEW.created_at)));
  ELSIF TG_OP = 'UPDATE' THEN
    history := audit_chain_appended(OLD.status_history_json, NEW.status_history_json);
    approvals := audit_chain_appended(OLD.approvals_json, NEW.approvals_json);
    IF history IS NULL OR approvals IS NULL THEN
      PERFORM audit_chain_append(NEW.tenant_id, 'approval_request.rewritten', 'approval_requests', NEW.id,
        jsonb_build_object(
          'request_id', NEW.id, 'actor', 'sql:' || session_user, 'status', NEW.status, 'version', NEW.version,
          'history', NEW.status_history_json, 'approvals', NEW.approvals_json,
          'previous_history', OLD.status_history_json, 'previous_approvals', OLD.approvals_json));
    ELSE
      PERFORM audit_chain_append(NEW.tenant_id, 'approval_request.changed', 'approval_requests', NEW.id,
        jsonb_build_object(
          'request_id', NEW.id, 'status', NEW.status, 'version', NEW.version, 'current_level', NEW.current_level,
          'history_appended', history, 'approvals_appended', approvals));
    END IF;
  ELSE
    PERFORM audit_chain_append(OLD.tenant_id, 'approval_request.deleted', 'approval_requests', OLD.id,
      jsonb_build_object('request_id', OLD.id, 'actor', 'sql:' || session_user, 'status', OLD.status,
                         'version', OLD.version, 'history', OLD.status_history_json));
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER approval_requests_chain_insert AFTER INSERT ON approval_requests
  FOR EACH ROW EXECUTE FUNCTION audit_chain_approval_requests();
--> statement-breakpoint
CREATE TRIGGER approval_requests_chain_update AFTER UPDATE ON approval_requests
  FOR EACH ROW
  WHEN (OLD.status_history_json IS DISTINCT FROM NEW.status_history_json
        OR OLD.approvals_json IS DISTINCT FROM NEW.approvals_json)
  EXECUTE FUNCTION audit_chain_approval_requests();
--> statement-breakpoint
CREATE TRIGGER approval_requests_chain_delete AFTER DELETE ON approval_requests
  FOR EACH ROW EXECUTE FUNCTION audit_chain_approval_requests();
--> statement-breakpoint
-- The chain itself is append-only: an UPDATE, DELETE or TRUNCATE is refused. This stops mistakes
-- and casual edits, not the table's owner (who can disable the trigger): against that, verification
-- and, later, signed checkpoints.
CREATE FUNCTION audit_chain_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_chain is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
--> statement-breakpoint
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
  FOR EACH ROW EXECUTE FUNCTION audit_chain_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
  FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_refuse_change();
--> statement-breakpoint
-- Databases that already hold audit records get their chains now, in a fixed order: audit events
-- by id, then approval requests by creation (one record each, with the history and approvals they
-- hold today).
DO $$
DECLARE
  event audit_events;
  request approval_requests;
BEGIN
  FOR event IN SELECT * FROM audit_events ORDER BY id LOOP
    PERFORM audit_chain_append(audit_chain_event_chain(event), 'audit_event', 'audit_events', event.id::text,
                               audit_chain_event_content(event));
  END LOOP;
  FOR request IN SELECT * FROM approval_requests ORDER BY created_at, id LOOP
    PERFORM audit_chain_append(request.tenant_id, 'approval_request.backfilled', 'approval_requests', request.id,
      jsonb_build_object(
        'request_id', request.id, 'tenant_id', request.tenant_id, 'skill_id', request.skill_id,
        'policy_type', request.policy_type, 'agent_id', request.agent_id, 'requested_by', request.requested_by,
        'required_level', request.required_level, 'payload_hash', request.payload_hash,
        'status', request.status, 'version', request.version, 'history', request.status_history_json,
        'approvals', request.approvals_json, 'created_at', audit_chain_time(request.created_at)));
  END LOOP;
END
$$;
