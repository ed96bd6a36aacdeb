// Policy bundles as operations (issue 29): export a scope's live policy, validate a bundle against the
// live set (its diff and the changes the caller's level may not make), and apply one in a single
// transaction guarded by the scope's content hash. The admin policy API's rules hold for every row a
// bundle changes (policyChangeRefusal), and the audit trigger records each row change.
import { withInteractiveTransaction } from "../db/client.ts";
import {
  insertBundleAudit,
  lockAndLoadLivePolicySet,
  readPolicyVersion,
  writeBundleDiff,
} from "../db/policy-bundle-apply.ts";
import { loadLivePolicySet } from "../db/policy-bundles.ts";
import { governedLevel, levelInForce, type Principal, policyChangeRefusal } from "../domain/access.ts";
import {
  type BundleApprovalLevel,
  type BundleDiff,
  bundleSha256,
  diffBundle,
  diffIsEmpty,
  exportScope,
  type FullPolicySet,
  type PolicyBundle,
  ROW_SECTIONS,
  rowKey,
  type SectionName,
  withBundle,
} from "../domain/policy-bundle.ts";
import { APPROVAL_LEVELS } from "../domain/vocabulary.ts";
import { ApiError } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";
import { actorOf, runChange } from "./policies.ts";

type Counts = { added: number; changed: number; removed: number };
export type ChangeCounts = { [S in SectionName]: Counts } & { settings: { changed: number }; total: number };

export interface BundleRefusal {
  path: string;
  change: "added" | "changed" | "removed";
  message: string;
  row?: Record<string, unknown>;
}

/** The scope's content hash: the concurrency token export and validate answer and apply checks. */
function baseOf(set: FullPolicySet, scope: string): Promise<string> {
  return bundleSha256(exportScope(set, scope));
}

export async function exportBundle(
  ctx: ServiceContext,
  scope: string,
): Promise<{ bundle: PolicyBundle; base_sha256: string; policy_version: number }> {
  const live = await loadLivePolicySet(ctx.db);
  const bundle = exportScope(live.set, scope);
  return { bundle, base_sha256: await bundleSha256(bundle), policy_version: live.version };
}

export function countDiff(diff: BundleDiff): ChangeCounts {
  const sections = Object.fromEntries(
    ROW_SECTIONS.map((name) => {
      const d = diff[name];
      return [name, { added: d.added.length, changed: d.changed.length, removed: d.removed.length }];
    }),
  ) as { [S in SectionName]: Counts };
  const settings = { changed: diff.settings ? 1 : 0 };
  const total = Object.values(sections).reduce(
    (sum, c) => sum + c.added + c.changed + c.removed,
    settings.changed,
  );
  return { settings, ...sections, total };
}

const KIND: Record<SectionName, string> = {
  approval_levels: "approval-levels",
  capability_rules: "capability-rules",
  budgets: "budgets",
  skill_costs: "skill-costs",
};

const TOP_LEVEL = APPROVAL_LEVELS.owner_override;

/**
 * Every change of the diff the principal's level may not make, with its path, by the admin policy
 * API's rule: a row governs its own level before and after, and an approval-level row also the level
 * in force for the scope it takes over (from the live set and from the set after the bundle, the
 * stricter of the two).
 */
export function levelRefusals(
  principal: Pick<Principal, "maxLevel">,
  live: FullPolicySet,
  bundle: PolicyBundle,
  diff: BundleDiff,
): BundleRefusal[] {
  if (principal.maxLevel >= TOP_LEVEL) return [];
  const refusals: BundleRefusal[] = [];
  const after = withBundle(live, bundle);
  const refuse = (level: number, refusal: Omit<BundleRefusal, "message">) => {
    const message = policyChangeRefusal(principal, level);
    if (message) refusals.push({ ...refusal, message });
  };
  if (diff.settings) refuse(governedLevel("settings", {}), { path: "settings", change: "changed" });
  for (const section of ROW_SECTIONS) {
    const kind = KIND[section];
    const key = rowKey[section] as (row: never) => string;
    const rows = (bundle[section] ?? []) as unknown as Record<string, unknown>[];
    const pathOf = (row: Record<string, unknown>) =>
      `${section}[${rows.findIndex((candidate) => key(candidate as never) === key(row as never))}]`;
    const overridden = (row: Record<string, unknown>) =>
      section === "approval_levels"
        ? Math.max(
            levelInForce(broaderLevels(live.approval_levels, row as unknown as BundleApprovalLevel)),
            levelInForce(broaderLevels(after.approval_levels, row as unknown as BundleApprovalLevel)),
          )
        : 0;
    const d = diff[section] as unknown as {
      added: Record<string, unknown>[];
      changed: { before: Record<string, unknown>; after: Record<string, unknown> }[];
      removed: Record<string, unknown>[];
    };
    for (const row of d.added) {
      refuse(Math.max(governedLevel(kind, row), overridden(row)), { path: pathOf(row), change: "added" });
    }
    for (const change of d.changed) {
      const level = Math.max(
        governedLevel(kind, change.before),
        governedLevel(kind, change.after),
        overridden(change.after),
      );
      refuse(level, { path: pathOf(change.after), change: "changed" });
    }
    for (const row of d.removed) {
      refuse(governedLevel(kind, row), { path: section, change: "removed", row });
    }
  }
  return refusals;
}

/** Enabled rows of the same policy type covering a superset of `row`'s scope, other than itself. */
function broaderLevels(rows: BundleApprovalLevel[], row: BundleApprovalLevel): Record<string, unknown>[] {
  const covers = (mine: string | null, theirs: string | null) => theirs === null || theirs === mine;
  const self = rowKey.approval_levels(row);
  return rows.filter(
    (other) =>
      other.enabled &&
      other.policy_type === row.policy_type &&
      covers(row.tenant_id, other.tenant_id) &&
      covers(row.agent_id, other.agent_id) &&
      covers(row.skill_id, other.skill_id) &&
      rowKey.approval_levels(other) !== self,
  ) as unknown as Record<string, unknown>[];
}

export interface BundleValidation {
  valid: true;
  scope: string;
  base_sha256: string;
  bundle_sha256: string;
  policy_version: number;
  diff: BundleDiff & { counts: ChangeCounts };
  refusals: BundleRefusal[];
}

/** A well-formed bundle (the schema already checked it) against the live set: its diff and refusals. */
export async function validateBundle(
  ctx: ServiceContext,
  principal: Principal,
  bundle: PolicyBundle,
): Promise<BundleValidation> {
  const live = await loadLivePolicySet(ctx.db);
  const diff = diffBundle(live.set, bundle);
  return {
    valid: true,
    scope: bundle.scope,
    base_sha256: await baseOf(live.set, bundle.scope),
    bundle_sha256: await bundleSha256(bundle),
    policy_version: live.version,
    diff: { counts: countDiff(diff), ...diff },
    refusals: levelRefusals(principal, live.set, bundle, diff),
  };
}

export interface BundleApplied {
  applied: true;
  policy_version: number;
  base_sha256: string;
  changes: ChangeCounts;
}

/**
 * Applies a bundle in one transaction: under the policy-set lock, the live scope must still hash to
 * `expectedBase` (else 409 with the current hash), every change must be the caller's to make (else
 * 403), then the diff is written in place and one `policy.bundle_applied` event records it. A bundle
 * that changes nothing writes nothing: no version bump, no audit event.
 */
export async function applyBundle(
  ctx: ServiceContext,
  principal: Principal,
  bundle: PolicyBundle,
  expectedBase: string,
): Promise<BundleApplied> {
  const actor = actorOf(ctx, principal);
  const bundleHash = await bundleSha256(bundle);
  const result = await runChange(() =>
    withInteractiveTransaction(
      ctx.env,
      ctx,
      async (tx) => {
        const live = await lockAndLoadLivePolicySet(tx);
        const base = await baseOf(live.set, bundle.scope);
        if (base !== expectedBase) {
          throw new ApiError(
            "conflict",
            "The live policy of this scope changed since the bundle's base: export or validate again, then retry",
            { base_sha256: base, expected_base_sha256: expectedBase },
          );
        }
        const diff = diffBundle(live.set, bundle);
        const refusals = levelRefusals(principal, live.set, bundle, diff);
        const [first] = refusals;
        if (first) throw new ApiError("forbidden", first.message, { refusals });
        const changes = countDiff(diff);
        if (diffIsEmpty(diff)) {
          return { applied: true as const, policy_version: live.version, base_sha256: base, changes };
        }
        await writeBundleDiff(tx, actor, diff);
        const after = await baseOf(withBundle(live.set, bundle), bundle.scope);
        await insertBundleAudit(tx, actor, {
          scope: bundle.scope,
          before: { base_sha256: base, policy_version: live.version },
          after: { base_sha256: after, bundle_sha256: bundleHash, changes },
        });
        return {
          applied: true as const,
          policy_version: await readPolicyVersion(tx),
          base_sha256: after,
          changes,
        };
      },
      (error) => ctx.log.warn("policy_bundle_pool_error", { error: error.message }),
    ),
  );
  ctx.log.info("policy_bundle_applied", {
    scope: bundle.scope,
    by: principal.principalId,
    version: result.policy_version,
    changes: result.changes.total,
  });
  return result;
}
