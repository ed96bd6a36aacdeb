ALTER TABLE "api_keys" ADD COLUMN "agent_ids" text[];--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "requester_principal_id" text;--> statement-breakpoint
-- Requests filed before this migration: their requester principal is their filing key's principal.
UPDATE "approval_requests" r SET "requester_principal_id" = k."principal_id"
  FROM "api_keys" k WHERE k."id" = r."created_by_key_id" AND r."requester_principal_id" IS NULL;
