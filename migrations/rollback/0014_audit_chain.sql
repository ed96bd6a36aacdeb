-- Rollback of 0014_audit_chain (audit records are then no longer chained; the chain is dropped).
DROP TRIGGER IF EXISTS approval_requests_chain_insert ON approval_requests;
DROP TRIGGER IF EXISTS approval_requests_chain_update ON approval_requests;
DROP TRIGGER IF EXISTS approval_requests_chain_delete ON approval_requests;
DROP TRIGGER IF EXISTS audit_events_chain ON audit_events;
DROP FUNCTION IF EXISTS audit_chain_approval_requests();
DROP FUNCTION IF EXISTS audit_chain_appended(jsonb, jsonb);
DROP FUNCTION IF EXISTS audit_chain_audit_events();
DROP FUNCTION IF EXISTS audit_chain_event_content(audit_events);
DROP FUNCTION IF EXISTS audit_chain_event_chain(audit_events);
DROP FUNCTION IF EXISTS audit_chain_append(text, text, text, text, jsonb);
DROP TABLE IF EXISTS "audit_chain";
DROP FUNCTION IF EXISTS audit_chain_refuse_change();
DROP FUNCTION IF EXISTS audit_chain_time(timestamptz);
