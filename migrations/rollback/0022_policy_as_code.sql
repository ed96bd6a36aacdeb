-- Undoes 0022_policy_as_code: candidate bundles are dropped, and the decision log loses its replay
-- inputs and shadow answers (the decisions themselves stay).
ALTER TABLE "policy_decisions" DROP CONSTRAINT IF EXISTS "policy_decisions_shadow_decision_valid";
DROP INDEX IF EXISTS "policy_decisions_shadow_idx";
ALTER TABLE "policy_decisions" DROP COLUMN IF EXISTS "shadow_level";
ALTER TABLE "policy_decisions" DROP COLUMN IF EXISTS "shadow_decision";
ALTER TABLE "policy_decisions" DROP COLUMN IF EXISTS "shadow_candidate_id";
ALTER TABLE "policy_decisions" DROP COLUMN IF EXISTS "spend";
ALTER TABLE "policy_decisions" DROP COLUMN IF EXISTS "simulate_cost";
ALTER TABLE "policy_decisions" DROP COLUMN IF EXISTS "tokens";
DROP TABLE IF EXISTS "policy_candidates";
