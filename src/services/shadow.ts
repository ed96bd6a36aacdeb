// Shadow mode on the live hot path (issue 29): when a candidate shadows the call's tenant (the marker
// read with the live policy, src/db/policy-state.ts), the call is judged again against the candidate
// and the answer recorded beside the live one, never given. The candidate is loaded once per (id,
// revision) per isolate; any failure is logged and counted and the live answer stands.

import { loadShadowCandidate } from "../db/policy-candidates.ts";
import type { LoadedPolicyState } from "../db/policy-state.ts";
import { type Evaluation, type EvaluationInput, evaluate } from "../domain/evaluation.ts";
import type { PolicyBundle } from "../domain/policy-bundle.ts";
import { type ShadowCandidate, type ShadowMarker, shadowState } from "../domain/shadow.ts";
import type { Decision } from "../domain/vocabulary.ts";
import type { ServiceContext } from "./context.ts";

/** What the decision log records of a shadow evaluation. */
export interface ShadowAnswer {
  candidateId: string;
  decision: Decision;
  level: number;
}

const CANDIDATE_CACHE_MAX_ENTRIES = 64;
/** Per isolate, by id and revision: a changed candidate has a new revision, so no entry is ever stale. */
const candidateCache = new Map<string, ShadowCandidate>();
const cacheKey = (marker: ShadowMarker) => `${marker.candidateId}\u0000${marker.revision}`;

async function candidateFor(ctx: ServiceContext, marker: ShadowMarker): Promise<ShadowCandidate | undefined> {
  const cached = candidateCache.get(cacheKey(marker));
  if (cached) return cached;
  const loaded = await loadShadowCandidate(ctx.db, marker.candidateId);
  if (!loaded) return undefined; // deleted since the marker was read: nothing shadows this call
  const candidate: ShadowCandidate = {
    candidateId: marker.candidateId,
    revision: loaded.revision,
    // Stored only through the API, which validated it; shadowState still refuses a malformed one.
    bundle: loaded.bundle as PolicyBundle,
  };
  if (candidateCache.size >= CANDIDATE_CACHE_MAX_ENTRIES) candidateCache.clear();
  candidateCache.set(cacheKey(candidate), candidate);
  return candidate;
}

/**
 * The shadowing candidate's answer to `call`, or null (none shadows it, or it failed: logged as
 * shadow_evaluation_failed and counted in nova_policy_shadow_failures_total). Never throws.
 */
export async function shadowEvaluate(
  ctx: ServiceContext,
  call: EvaluationInput,
  stored: LoadedPolicyState,
  live: Evaluation,
): Promise<ShadowAnswer | null> {
  const marker = stored.shadow;
  if (!marker) return null;
  let stage: "load" | "evaluate" = "load";
  try {
    const candidate = await candidateFor(ctx, marker);
    if (!candidate) return null;
    stage = "evaluate";
    const shadow = evaluate(call, shadowState(stored, candidate.bundle, call));
    ctx.metrics.count("nova_policy_shadow_evaluations_total");
    if (shadow.decision !== live.decision || shadow.approvalLevelRequired !== live.approvalLevelRequired) {
      // Labels are bounded (three decisions each), never ids: the route names the candidate.
      ctx.metrics.count("nova_policy_shadow_disagreements_total", {
        from_decision: live.decision,
        to_decision: shadow.decision,
      });
    }
    return {
      candidateId: marker.candidateId,
      decision: shadow.decision,
      level: shadow.approvalLevelRequired,
    };
  } catch (error) {
    ctx.log.warn("shadow_evaluation_failed", { candidate_id: marker.candidateId, stage, error });
    ctx.metrics.count("nova_policy_shadow_failures_total", { stage });
    return null;
  }
}
