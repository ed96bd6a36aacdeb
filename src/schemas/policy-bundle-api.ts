// The bundle routes' requests and answers (src/routes/policy-bundles.ts): export, validate, apply.
// The bundle itself is PolicyBundleSchema (src/schemas/policy-bundles.ts); this adds the envelopes.
import { z } from "@hono/zod-openapi";
import { ALL_SCOPE } from "../domain/policy-bundle.ts";
import { BundleScope, PolicyBundleSchema } from "./policy-bundles.ts";

const Sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, "a SHA-256 as 64 lowercase hex digits")
  .openapi({ example: "9f2c…" });

const BaseSha256 = Sha256.openapi({
  description:
    "The live scope's content hash (SHA-256 of its canonical bundle): the concurrency token apply checks",
});

export const ExportQuery = z.object({
  scope: BundleScope.default(ALL_SCOPE).openapi({
    param: { name: "scope", in: "query" },
    description: 'A tenant id, or "*" (the default): the whole policy set',
  }),
});

export const ExportAnswer = z
  .object({
    bundle: PolicyBundleSchema,
    base_sha256: BaseSha256,
    policy_version: z.number().int(),
  })
  .openapi("PolicyBundleExport");

export const ValidateBody = z.object({ bundle: PolicyBundleSchema }).strict().openapi("PolicyBundleValidate");

export const ApplyBody = z
  .object({
    bundle: PolicyBundleSchema,
    expected_base_sha256: Sha256.openapi({
      description: "The base_sha256 the bundle was made against (export or validate answered it)",
    }),
  })
  .strict()
  .openapi("PolicyBundleApply");

const SectionCounts = z.object({
  added: z.number().int(),
  changed: z.number().int(),
  removed: z.number().int(),
});

export const ChangeCounts = z
  .object({
    settings: z.object({ changed: z.number().int() }),
    skill_costs: SectionCounts,
    approval_levels: SectionCounts,
    capability_rules: SectionCounts,
    budgets: SectionCounts,
    total: z.number().int().openapi({ description: "Rows (and settings) the bundle changes" }),
  })
  .openapi("PolicyBundleChangeCounts");

const Row = z.record(z.string(), z.unknown());
const SectionRows = z.object({
  added: z.array(Row),
  changed: z.array(z.object({ before: Row, after: Row })),
  removed: z.array(Row),
});

export const BundleDiffSchema = z
  .object({
    counts: ChangeCounts,
    settings: z.object({ before: Row, after: Row }).nullable(),
    skill_costs: SectionRows,
    approval_levels: SectionRows,
    capability_rules: SectionRows,
    budgets: SectionRows,
  })
  .openapi("PolicyBundleDiff", { description: "What applying the bundle would change, row by row" });

export const RefusalSchema = z
  .object({
    path: z.string().openapi({ description: "The row in the bundle (a removed row: its section)" }),
    change: z.enum(["added", "changed", "removed"]),
    message: z.string(),
    row: Row.optional().openapi({ description: "A removed row (it has no path in the bundle)" }),
  })
  .openapi("PolicyBundleRefusal");

export const ValidateAnswer = z
  .object({
    valid: z.literal(true),
    scope: z.string(),
    base_sha256: BaseSha256,
    bundle_sha256: Sha256,
    policy_version: z.number().int(),
    diff: BundleDiffSchema,
    refusals: z
      .array(RefusalSchema)
      .openapi({ description: "Changes your key's level may not make: apply would answer 403" }),
  })
  .openapi("PolicyBundleValidation");

export const ApplyAnswer = z
  .object({
    applied: z.literal(true),
    policy_version: z.number().int(),
    base_sha256: BaseSha256,
    changes: ChangeCounts,
  })
  .openapi("PolicyBundleApplied");
