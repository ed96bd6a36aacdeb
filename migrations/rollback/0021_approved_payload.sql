-- Undoes 0021_approved_payload: the edited payloads are dropped (the requests keep the filed ones).
ALTER TABLE "approval_requests" DROP CONSTRAINT IF EXISTS "approval_requests_approved_payload_complete";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "approved_payload_hash";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "approved_payload";
