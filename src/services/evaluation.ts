// Policy evaluation as an operation: check who may ask, read the policy in one round trip, decide in
// pure code (domain/evaluation.ts), count it and log the decision after the answer. Also the decision
// log reads and the policy cache that filing a request uses.
import {
  type DecisionFilter,
  type DecisionInsert,
  findDecision,
  insertDecision,
  insertDecisions,
  listDecisions,
} from "../db/decisions.ts";
import { type LoadedPolicyState, loadPolicyState, loadVersionAndSpend } from "../db/policy-state.ts";
import type { PolicyDecisionRow } from "../db/schema.ts";
import { actingAgent, can, type Principal, readableTenant, tenantActionRefusal } from "../domain/access.ts";
import {
  type Evaluation,
  type EvaluationInput,
  evaluate,
  type PolicySettings,
  type PolicyState,
  tokenFieldProblem,
} from "../domain/evaluation.ts";
import { newDecisionId } from "../domain/ids.ts";
import { canonicalId, MAX_PAYLOAD_BYTES, payloadTooLarge } from "../domain/limits.ts";
import type { PolicyType } from "../domain/vocabulary.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import { MetricsBuffer } from "../lib/metrics.ts";
import type { DecisionLogMessage, ServiceContext } from "./context.ts";
import { shadowEvaluate } from "./shadow.ts";

/** Proposed rules that replace the stored ones of their kind for one evaluation (admins only). */
export type PolicyOverrides = Partial<
  Pick<PolicyState, "approvalLevels" | "capabilityRules" | "budgets" | "skillCosts">
> & { settings?: Partial<PolicySettings> };

export interface EvaluateCommand extends EvaluationInput {
  policyType: PolicyType;
  /** The policy-set version the caller expects; a different current version is a 409. */
  expectedVersion?: string | number | null | undefined;
  overrides?: PolicyOverrides | undefined;
}

export interface EvaluatedCall {
  input: EvaluateCommand;
  evaluation: Evaluation;
  policyVersion: number;
  decisionId: string;
  timestamp: Date;
  overridesUsed: boolean;
}

/**
 * An id a caller gave (any caller of a service, not only the schemas, which already folded it): its
 * canonical form (domain/limits.ts), else 400 naming the field.
 */
export function canonicalIdOf(field: string, raw: string): string {
  const id = canonicalId(raw);
  if (!id.ok) throw invalidField(field, id.reason);
  return id.value;
}

/**
 * Admits a call (an evaluation or a filing) by this principal: its ids are folded to their canonical
 * form, it may act for the tenant and for the agent, and the payload is within bounds. Returns the
 * canonical skill and tenant ids and the agent the call is judged for (an agent key acts as its own
 * principal unless it may act for others); else throws the matching ApiError.
 */
export function admitCall(
  principal: Principal,
  call: { skillId: string; tenantId: string; agentId: string | null; payload: unknown },
): { skillId: string; tenantId: string; agentId: string | null } {
  const skillId = canonicalIdOf("skill_id", call.skillId);
  const tenantId = canonicalIdOf("tenant_id", call.tenantId);
  const requestedAgent = call.agentId === null ? null : canonicalIdOf("agent_id", call.agentId);
  const refusal = tenantActionRefusal(principal, tenantId);
  if (refusal) throw new ApiError("forbidden", refusal);
  const agent = actingAgent(principal, requestedAgent);
  if (!agent.allowed) throw new ApiError("forbidden", agent.reason);
  admitPayload(call.payload);
  return { skillId, tenantId, agentId: agent.agentId };
}

/**
 * A payload within bounds (size, token fields), else the matching ApiError: a filed payload, an
 * evaluated one and an approver's edit of one (issue 27) keep to the same limits.
 */
export function admitPayload(payload: unknown): void {
  if (payloadTooLarge(payload)) {
    throw new ApiError("payload_too_large", `payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }
  const tokens = tokenFieldProblem(payload);
  if (tokens) throw invalidField(`payload.${tokens.field}`, tokens.message);
}

function applyOverrides(state: PolicyState, overrides: PolicyOverrides): PolicyState {
  return {
    ...state,
    approvalLevels: overrides.approvalLevels ?? state.approvalLevels,
    capabilityRules: overrides.capabilityRules ?? state.capabilityRules,
    budgets: overrides.budgets ?? state.budgets,
    skillCosts: overrides.skillCosts ?? state.skillCosts,
    settings: { ...state.settings, ...overrides.settings },
  };
}

export async function evaluateCall(
  ctx: ServiceContext,
  principal: Principal,
  request: EvaluateCommand,
): Promise<EvaluatedCall> {
  const command = { ...request, ...admitCall(principal, request) };
  if (command.overrides && !can(principal, "policies:manage")) {
    throw new ApiError("forbidden", "Only admin keys may evaluate with policy_overrides");
  }
  const stored: LoadedPolicyState = await policyToEvaluate(ctx, command);
  const expected = command.expectedVersion;
  if (expected !== undefined && expected !== null && String(expected) !== String(stored.version)) {
    throw new ApiError(
      "policy_version_mismatch",
      `Policy has changed: you sent version ${expected}, the current version is ${stored.version}`,
      { current_version: stored.version },
    );
  }
  const overridesUsed = command.overrides !== undefined;
  const evaluation = evaluate(
    command,
    command.overrides ? applyOverrides(stored, command.overrides) : stored,
  );
  // What-if evaluations are logged but kept out of the decision metrics: they decided nothing.
  if (!overridesUsed) countDecision(ctx, command, evaluation);
  // Shadow mode (issue 29): the shadowing candidate's answer is recorded, never given; a what-if is
  // already a candidate of its own, so it is not shadowed.
  const shadow = overridesUsed ? null : await shadowEvaluate(ctx, command, stored, evaluation);

  const decisionId = newDecisionId();
  const timestamp = new Date();
  logDecision(ctx, {
    id: decisionId,
    tenantId: command.tenantId,
    agentId: command.agentId,
    skillId: command.skillId,
    policyType: command.policyType,
    decision: evaluation.decision,
    approvalLevelRequired: evaluation.approvalLevelRequired,
    simulatedCostCents: evaluation.simulatedCostCents,
    policyVersion: stored.version,
    overridesUsed,
    reasons: evaluation.reasons,
    violations: evaluation.violations,
    checks: evaluation.checks,
    principalId: principal.principalId,
    keyId: principal.keyId,
    requestId: ctx.requestId,
    createdAt: timestamp,
    // What it read besides the policy: a plan replays the row against a candidate with these.
    tokens: evaluation.tokens,
    simulateCost: command.simulateCost,
    spend: { ...stored.spend },
    shadowCandidateId: shadow?.candidateId ?? null,
    shadowDecision: shadow?.decision ?? null,
    shadowLevel: shadow?.level ?? null,
  });
  return { input: command, evaluation, policyVersion: stored.version, decisionId, timestamp, overridesUsed };
}

export function countDecision(
  ctx: ServiceContext,
  input: Pick<EvaluationInput, "tenantId" | "skillId">,
  result: Evaluation,
): void {
  ctx.metrics.count("nova_policy_decisions_total", {
    decision: result.decision,
    policy_type: result.decidingPolicyType,
  });
  if (result.violations.some((v) => v.type === "capability_denied"))
    ctx.metrics.count("nova_capability_violations_total");
  if (result.violations.some((v) => v.type === "budget_exceeded" && v.severity === "hard")) {
    ctx.metrics.count("nova_resource_budget_rejections_total");
  }
  // On the request's own log line: one line per request, even for the hot path.
  ctx.annotate("policy_decision", {
    decision: result.decision,
    decision_tenant_id: input.tenantId,
    decision_skill_id: input.skillId,
    decision_policy_type: result.decidingPolicyType,
  });
}

/**
 * Written after the answer (waitUntil). With the decision-log queue the row goes to the queue, whose
 * consumer writes a whole batch in one statement (writeDecisionBatch): eval then costs one database
 * round trip, not two. If the queue refuses the row, it is written directly; a failure of that write
 * is logged and counted, never silent.
 */
function logDecision(ctx: ServiceContext, row: DecisionInsert): void {
  const queue = ctx.env.DECISION_LOG_QUEUE;
  const direct = () =>
    insertDecision(ctx.db, row).catch((error: unknown) => decisionLogFailed(ctx, [row.id], error));
  if (!queue) {
    ctx.waitUntil(direct());
    return;
  }
  const message: DecisionLogMessage = {
    decision: { ...row, createdAt: (row.createdAt ?? new Date()).toISOString() },
  };
  ctx.waitUntil(
    queue.send(message).catch((error: unknown) => {
      ctx.log.warn("decision_log_enqueue_failed", { decision_id: row.id, error });
      return direct();
    }),
  );
}

function decisionLogFailed(ctx: ServiceContext, ids: string[], error: unknown): void {
  ctx.log.error("decision_log_write_failed", { decision_ids: ids, error });
  // Its own buffer: the invocation's buffer may already be flushed when this runs.
  const metrics = new MetricsBuffer();
  metrics.count("nova_decision_log_failures_total", {}, ids.length);
  metrics.flush(ctx.env.METRICS, ctx.log);
}

/** A queue message body as a decision row, or undefined when it is not one. */
export function decisionFromMessage(body: unknown): DecisionInsert | undefined {
  const decision = (body as Partial<DecisionLogMessage> | null)?.decision;
  if (!decision || typeof decision.id !== "string" || !decision.id.startsWith("dec_")) return undefined;
  const createdAt = new Date(decision.createdAt);
  if (Number.isNaN(createdAt.getTime())) return undefined;
  return { ...decision, createdAt };
}

/**
 * The decision-log queue consumer's write: every row of a batch in one statement, idempotent (a row
 * delivered twice is written once). Throws when the database refuses, so the batch is retried.
 */
export async function writeDecisionBatch(ctx: ServiceContext, rows: DecisionInsert[]): Promise<void> {
  try {
    await insertDecisions(ctx.db, rows);
  } catch (error) {
    decisionLogFailed(
      ctx,
      rows.map((row) => row.id),
      error,
    );
    throw error;
  }
}

/** One logged decision, or 404 (also for another tenant's: its existence is not admitted). */
export async function getDecision(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
): Promise<PolicyDecisionRow> {
  const row = await findDecision(ctx.db, id);
  if (!row || tenantActionRefusal(principal, row.tenantId)) {
    throw new ApiError("not_found", `No decision ${id}`);
  }
  return row;
}

export async function searchDecisions(
  ctx: ServiceContext,
  principal: Principal,
  query: DecisionFilter & { limit: number; offset: number },
): Promise<PolicyDecisionRow[]> {
  const scope = readableTenant(principal, query.tenantId);
  if (!scope.allowed) throw new ApiError("forbidden", scope.reason);
  return listDecisions(ctx.db, { ...query, tenantId: scope.tenantId }, query);
}

/**
 * The policy an evaluation reads, as fresh as the database: from the per-isolate cache when one small
 * statement (policy-set version and spend to date) shows the cached rules are still the current ones,
 * else read whole. Either way one round trip when warm; the cheaper statement spares the database the
 * six-part read on the hot path. Every policy change bumps the version (API and raw SQL alike).
 */
async function policyToEvaluate(
  ctx: ServiceContext,
  call: { policyType: PolicyType; tenantId: string; agentId: string | null; skillId: string },
): Promise<LoadedPolicyState> {
  const key = policyCacheKey(call);
  const cached = policyCache.get(key);
  if (cached && cached.expiresAt > Date.now()) {
    const current = await loadVersionAndSpend(ctx.db, call);
    if (current.version === cached.policy.version) {
      // The shadow marker too: a candidate turned on, off or changed shows at once.
      const policy = {
        ...cached.policy,
        spend: current.spend,
        readAt: current.readAt,
        shadow: current.shadow,
      };
      // Filing judges by this entry too: fresher spend there means fewer retries.
      cached.policy = policy;
      return policy;
    }
  }
  return readAndCache(ctx, call, key);
}

const policyCacheKey = (call: {
  policyType: PolicyType;
  tenantId: string;
  agentId: string | null;
  skillId: string;
}) => `${call.policyType}\u0000${call.tenantId}\u0000${call.agentId ?? ""}\u0000${call.skillId}`;

async function readAndCache(
  ctx: ServiceContext,
  call: { policyType: PolicyType; tenantId: string; agentId: string | null; skillId: string },
  key: string,
): Promise<LoadedPolicyState> {
  const policy = await loadPolicyState(ctx.db, call);
  if (policyCache.size > POLICY_CACHE_MAX_ENTRIES) policyCache.clear();
  policyCache.set(key, { policy, expiresAt: Date.now() + POLICY_CACHE_TTL_MS });
  return policy;
}

const POLICY_CACHE_TTL_MS = 60_000;
const POLICY_CACHE_MAX_ENTRIES = 5_000;
const policyCache = new Map<string, { policy: LoadedPolicyState; expiresAt: number }>();

/**
 * The policy a new request is judged by: the same rules an evaluation reads, spend to date included.
 * Cached per isolate: the insert re-checks the policy-set version and the budget outcomes the plan
 * rests on against the spend to date, in its own statement, so a stale entry costs a retry with
 * `fresh`, never a wrong answer, and a warm create is one round trip, budgets or not.
 */
export async function policyToJudge(
  ctx: ServiceContext,
  call: { policyType: PolicyType; tenantId: string; agentId: string | null; skillId: string },
  fresh = false,
): Promise<LoadedPolicyState> {
  const key = policyCacheKey(call);
  const cached = policyCache.get(key);
  if (!fresh && cached && cached.expiresAt > Date.now()) return cached.policy;
  return readAndCache(ctx, call, key);
}
