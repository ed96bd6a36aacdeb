// Candidate policy bundles on the wire (issue 29): the create and shadow-switch bodies, the candidate
// as answered, and a candidate's disagreements (how its shadow answers differed from the live ones).
import { z } from "@hono/zod-openapi";
import type { DisagreementCount, ShadowDisagreement } from "../db/policy-candidates.ts";
import type { PolicyCandidateRow } from "../db/schema.ts";
import { CANDIDATE_ID_PATTERN } from "../domain/ids.ts";
import { DECISIONS } from "../domain/vocabulary.ts";
import { pageQuery } from "./common.ts";
import { BundleScope, PolicyBundleSchema } from "./policy-bundles.ts";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Decision = z.enum(DECISIONS);

export const CandidateIdParam = z.object({
  id: z
    .string()
    .regex(CANDIDATE_ID_PATTERN, "a candidate id is pcd_ + 16 hex characters")
    .openapi({ param: { name: "id", in: "path" }, example: "pcd_0123456789abcdef" }),
});

export const CreateCandidateBody = z
  .object({
    bundle: PolicyBundleSchema,
    description: z.string().max(2000).nullable().optional(),
  })
  .strict();

export const ShadowPatchBody = z
  .object({ shadow: z.boolean().openapi({ description: "Whether the candidate shadows its scope" }) })
  .strict();

export const CandidateListQuery = z.object({
  scope: BundleScope.optional(),
  ...pageQuery({ maxLimit: 200, defaultLimit: 50, maxOffset: 10_000 }),
});

export const DisagreementsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(20).openapi({
    description: "How many of the latest disagreeing decisions to list",
  }),
});

export const CandidateSchema = z
  .object({
    id: z.string(),
    scope: z.string(),
    bundle: z.record(z.string(), z.unknown()).openapi({ description: "The bundle in its canonical form" }),
    bundle_sha256: Sha256,
    base_sha256: Sha256.openapi({ description: "The live scope's hash when the candidate was stored" }),
    description: z.string().nullable(),
    shadow: z.boolean(),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("PolicyCandidate");

export function candidateToApi(row: PolicyCandidateRow): z.infer<typeof CandidateSchema> {
  return {
    id: row.id,
    scope: row.scope,
    bundle: row.bundle,
    bundle_sha256: row.bundleSha256,
    base_sha256: row.baseSha256,
    description: row.description,
    shadow: row.shadow,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export const DisagreementsSchema = z
  .object({
    candidate_id: z.string(),
    shadowed: z.number().int().openapi({ description: "Live evaluations this candidate shadowed" }),
    counts: z.array(
      z.object({
        decision: Decision,
        shadow_decision: Decision,
        level_change: z.number().int().openapi({ description: "Shadow level minus live level" }),
        count: z.number().int(),
      }),
    ),
    latest: z.array(
      z.object({
        decision_id: z.string(),
        tenant_id: z.string(),
        agent_id: z.string().nullable(),
        skill_id: z.string(),
        decision: Decision,
        approval_level_required: z.number().int(),
        shadow_decision: Decision,
        shadow_level: z.number().int(),
        created_at: z.string(),
      }),
    ),
  })
  .openapi("PolicyCandidateDisagreements");

export function disagreementsToApi(
  candidateId: string,
  found: { shadowed: number; counts: DisagreementCount[]; latest: ShadowDisagreement[] },
): z.infer<typeof DisagreementsSchema> {
  return {
    candidate_id: candidateId,
    shadowed: found.shadowed,
    counts: found.counts.map((row) => ({
      decision: row.decision as z.infer<typeof Decision>,
      shadow_decision: row.shadowDecision as z.infer<typeof Decision>,
      level_change: row.levelChange,
      count: row.count,
    })),
    latest: found.latest.map((row) => ({
      decision_id: row.id,
      tenant_id: row.tenantId,
      agent_id: row.agentId,
      skill_id: row.skillId,
      decision: row.decision as z.infer<typeof Decision>,
      approval_level_required: row.approvalLevelRequired,
      shadow_decision: row.shadowDecision as z.infer<typeof Decision>,
      shadow_level: row.shadowLevel,
      created_at: row.createdAt.toISOString(),
    })),
  };
}
