-- Rollback of 0007_audit_raw_status_changes.
DROP TRIGGER IF EXISTS approval_requests_raw_status_change ON approval_requests;
--> statement-breakpoint
DROP FUNCTION IF EXISTS approval_requests_record_raw_status_change();
