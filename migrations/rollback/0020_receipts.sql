-- Undoes 0020_receipts: receipts leave the requests (approved requests stay approved) and the key
-- registry is dropped.
ALTER TABLE "approval_requests" DROP CONSTRAINT IF EXISTS "approval_requests_receipt_complete";
DROP INDEX IF EXISTS "approval_requests_receipt_kid_idx";
DROP INDEX IF EXISTS "approval_requests_receipt_id_key";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "receipt_redeemed_by";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "receipt_redeemed_at";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "receipt_not_after";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "receipt_kid";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "receipt_jws";
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "receipt_id";
DROP TABLE IF EXISTS "receipt_keys";
