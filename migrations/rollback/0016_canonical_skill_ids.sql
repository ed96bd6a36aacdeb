-- Rollback of 0016_canonical_skill_ids: the CHECKs go and the earlier pattern check comes back. The
-- folded skill ids and patterns stay folded (they satisfy the earlier check, and mean what they meant).
ALTER TABLE "skill_costs" DROP CONSTRAINT IF EXISTS "skill_costs_skill_id_canonical";
ALTER TABLE "policy_approval_levels" DROP CONSTRAINT IF EXISTS "policy_approval_levels_skill_id_canonical";
ALTER TABLE "capability_rules" DROP CONSTRAINT IF EXISTS "capability_rules_skill_pattern_canonical";
ALTER TABLE "capability_rules" ADD CONSTRAINT "capability_rules_pattern_format" CHECK ("capability_rules"."skill_pattern" ~ '^([^*]+[*]?|[*])$');
