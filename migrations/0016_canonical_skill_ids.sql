-- Skill ids have one spelling from here on (src/domain/limits.ts, docs/SECURITY.md "Identifiers have
-- one spelling"): every entry point folds a call's skill id to Unicode NFKC, lower case, no surrounding
-- white space, and the evaluation compares exactly. Policy rows written before kept the case they were
-- given, so a stored 'Shell.*' deny would no longer match 'Shell.exec', now folded to 'shell.exec'. The
-- stored skill ids and patterns are folded the same way here (each change audited and counted in the
-- policy-set version like any other), then CHECKs hold every later write, through the API or by
-- hand-written SQL, to the canonical form.
-- Two rules that differ only in how their skill is written, or a skill that does not fold to the
-- pattern, stop the migration with their ids: which rule should stand is a person's decision.
-- Tenant and agent ids are not rewritten: the audit chain hashes them. The API folds them like skill
-- ids from here on; a row stored under another spelling is never matched loosely (docs/SECURITY.md).
SELECT set_config('policy.actor', 'migration:0016_canonical_skill_ids', true);
--> statement-breakpoint
CREATE FUNCTION pg_temp.canonical_identifier(value text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  -- The same steps as canonicalIdentifier() in src/domain/limits.ts: NFKC, lower case, trim the white
  -- space JavaScript's trim() removes that NFKC leaves as it is.
  SELECT btrim(lower(normalize(value, NFKC)), E' \t\n\r\f\x0B' || U&'\1680\2028\2029\FEFF')
$$;
--> statement-breakpoint
DO $$
DECLARE
  problems text;
BEGIN
  SELECT string_agg(problem, '; ') INTO problems FROM (
    SELECT 'policy_approval_levels ' || string_agg(id::text, ', ' ORDER BY id) || ' are one scope once '
             || 'their skill ids are folded to ' || quote_literal(pg_temp.canonical_identifier(skill_id)) AS problem
      FROM policy_approval_levels WHERE skill_id IS NOT NULL
      GROUP BY policy_type, tenant_id, agent_id, pg_temp.canonical_identifier(skill_id) HAVING count(*) > 1
    UNION ALL
    SELECT 'capability_rules ' || string_agg(id::text, ', ' ORDER BY id) || ' are one scope once their '
             || 'skill patterns are folded to ' || quote_literal(pg_temp.canonical_identifier(skill_pattern))
      FROM capability_rules
      GROUP BY tenant_id, agent_id, pg_temp.canonical_identifier(skill_pattern) HAVING count(*) > 1
    UNION ALL
    SELECT 'skill_costs ' || string_agg(quote_literal(skill_id), ', ' ORDER BY skill_id) || ' are one skill '
             || 'once folded to ' || quote_literal(pg_temp.canonical_identifier(skill_id))
      FROM skill_costs GROUP BY pg_temp.canonical_identifier(skill_id) HAVING count(*) > 1
    UNION ALL
    SELECT 'policy_approval_levels ' || id || ': skill_id does not fold to a-z 0-9 . _ @ : / -'
      FROM policy_approval_levels WHERE pg_temp.canonical_identifier(skill_id) !~ '^[a-z0-9_.@:/-]+$'
    UNION ALL
    SELECT 'capability_rules ' || id || ': skill_pattern does not fold to a skill id, a prefix ending in *, or *'
      FROM capability_rules WHERE pg_temp.canonical_identifier(skill_pattern) !~ '^([a-z0-9_.@:/-]+\*?|\*)$'
    UNION ALL
    SELECT 'skill_costs ' || quote_literal(skill_id) || ': skill_id does not fold to a-z 0-9 . _ @ : / -'
      FROM skill_costs WHERE pg_temp.canonical_identifier(skill_id) !~ '^[a-z0-9_.@:/-]+$'
  ) found;
  IF problems IS NOT NULL THEN
    RAISE EXCEPTION 'skill ids cannot be made canonical: %', problems
      USING HINT = 'Delete or rewrite these policy rows (keep the one that should stand), then migrate again.';
  END IF;
END
$$;
--> statement-breakpoint
UPDATE policy_approval_levels SET skill_id = pg_temp.canonical_identifier(skill_id), updated_at = now()
  WHERE skill_id <> pg_temp.canonical_identifier(skill_id);
--> statement-breakpoint
UPDATE capability_rules SET skill_pattern = pg_temp.canonical_identifier(skill_pattern), updated_at = now()
  WHERE skill_pattern <> pg_temp.canonical_identifier(skill_pattern);
--> statement-breakpoint
UPDATE skill_costs SET skill_id = pg_temp.canonical_identifier(skill_id), updated_at = now()
  WHERE skill_id <> pg_temp.canonical_identifier(skill_id);
--> statement-breakpoint
ALTER TABLE "capability_rules" DROP CONSTRAINT "capability_rules_pattern_format";--> statement-breakpoint
ALTER TABLE "capability_rules" ADD CONSTRAINT "capability_rules_skill_pattern_canonical" CHECK ("capability_rules"."skill_pattern" ~ '^([a-z0-9_.@:/-]+\*?|\*)$');--> statement-breakpoint
ALTER TABLE "policy_approval_levels" ADD CONSTRAINT "policy_approval_levels_skill_id_canonical" CHECK ("policy_approval_levels"."skill_id" ~ '^[a-z0-9_.@:/-]+$');--> statement-breakpoint
ALTER TABLE "skill_costs" ADD CONSTRAINT "skill_costs_skill_id_canonical" CHECK ("skill_costs"."skill_id" ~ '^[a-z0-9_.@:/-]+$');--> statement-breakpoint
DROP FUNCTION pg_temp.canonical_identifier(text);
