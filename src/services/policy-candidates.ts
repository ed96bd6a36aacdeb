// Candidate policy bundles as operations (issue 29): store one (with the live scope's hash it was
// written against), list, read, turn shadowing on or off, delete, and read how its shadow answers
// differed from the live ones. Every change is audited with the actor (src/db/policy-candidates.ts).
import { sqlState, UNIQUE_VIOLATION } from "../db/errors.ts";
import { loadLivePolicySet } from "../db/policy-bundles.ts";
import {
  type CandidateActor,
  deleteCandidate,
  findCandidate,
  findShadowing,
  insertCandidate,
  listCandidates,
  readDisagreements,
  setCandidateShadow,
} from "../db/policy-candidates.ts";
import type { PolicyCandidateRow } from "../db/schema.ts";
import type { Principal } from "../domain/access.ts";
import { newCandidateId } from "../domain/ids.ts";
import { bundleSha256, canonicalBundle, exportScope, type PolicyBundle } from "../domain/policy-bundle.ts";
import { ApiError } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";

function actorOf(ctx: ServiceContext, principal: Principal): CandidateActor {
  return { principalId: principal.principalId, keyId: principal.keyId, requestId: ctx.requestId };
}

/** Stores a candidate (never shadowing at first), with the live scope's hash now as its base. */
export async function createCandidate(
  ctx: ServiceContext,
  principal: Principal,
  input: { bundle: PolicyBundle; description: string | null },
): Promise<PolicyCandidateRow> {
  const bundle = canonicalBundle(input.bundle);
  const live = await loadLivePolicySet(ctx.db);
  const [bundleHash, baseHash] = await Promise.all([
    bundleSha256(bundle),
    bundleSha256(exportScope(live.set, bundle.scope)),
  ]);
  const row = await insertCandidate(ctx.db, actorOf(ctx, principal), {
    id: newCandidateId(),
    scope: bundle.scope,
    bundle: bundle as unknown as Record<string, unknown>,
    bundleSha256: bundleHash,
    baseSha256: baseHash,
    description: input.description,
    createdBy: principal.principalId,
  });
  ctx.log.info("policy_candidate_created", {
    candidate_id: row.id,
    scope: row.scope,
    by: principal.principalId,
  });
  return row;
}

export async function getCandidate(ctx: ServiceContext, id: string): Promise<PolicyCandidateRow> {
  const row = await findCandidate(ctx.db, id);
  if (!row) throw new ApiError("not_found", `No policy candidate ${id}`);
  return row;
}

export function searchCandidates(
  ctx: ServiceContext,
  query: { scope?: string | undefined; limit: number; offset: number },
): Promise<PolicyCandidateRow[]> {
  return listCandidates(ctx.db, { scope: query.scope }, query);
}

/**
 * Turns a candidate's shadowing on or off. One candidate shadows a scope at a time: turning one on
 * where another shadows is a 409 naming it (the partial unique index decides, also under a race).
 */
export async function changeCandidateShadow(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
  shadow: boolean,
): Promise<PolicyCandidateRow> {
  let row: PolicyCandidateRow | undefined;
  try {
    row = await setCandidateShadow(ctx.db, actorOf(ctx, principal), id, shadow);
  } catch (error) {
    if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
    const mine = await findCandidate(ctx.db, id);
    const holder = mine ? await findShadowing(ctx.db, mine.scope) : undefined;
    throw new ApiError(
      "conflict",
      holder
        ? `Candidate ${holder.id} already shadows scope ${holder.scope}: turn its shadow off first`
        : "Another candidate already shadows this scope: turn its shadow off first",
      holder ? { shadowing_candidate_id: holder.id } : undefined,
    );
  }
  if (!row) throw new ApiError("not_found", `No policy candidate ${id}`);
  ctx.log.info("policy_candidate_shadow", { candidate_id: id, shadow, by: principal.principalId });
  return row;
}

export async function removeCandidate(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
): Promise<PolicyCandidateRow> {
  const row = await deleteCandidate(ctx.db, actorOf(ctx, principal), id);
  if (!row) throw new ApiError("not_found", `No policy candidate ${id}`);
  ctx.log.info("policy_candidate_deleted", { candidate_id: id, by: principal.principalId });
  return row;
}

/** How a candidate's shadow answers differed from the live ones (404 for an unknown candidate). */
export async function candidateDisagreements(ctx: ServiceContext, id: string, limit: number) {
  await getCandidate(ctx, id);
  return readDisagreements(ctx.db, id, limit);
}
