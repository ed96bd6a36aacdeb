-- Edit on approve (issue 27): an approver may approve a modified payload. The filed payload stays as it
-- was; the approved one and its hash are kept beside it (NULL while the filed one stands), and the
-- receipt binds the approved one.
ALTER TABLE "approval_requests" ADD COLUMN "approved_payload" jsonb;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "approved_payload_hash" text;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD CONSTRAINT "approval_requests_approved_payload_complete" CHECK (("approval_requests"."approved_payload" IS NULL) = ("approval_requests"."approved_payload_hash" IS NULL));