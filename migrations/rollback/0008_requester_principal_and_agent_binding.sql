-- Rollback of 0008_requester_principal_and_agent_binding.
ALTER TABLE "approval_requests" DROP COLUMN IF EXISTS "requester_principal_id";
--> statement-breakpoint
ALTER TABLE "api_keys" DROP COLUMN IF EXISTS "agent_ids";
