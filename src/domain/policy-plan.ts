// Plans (issue 29): what a candidate bundle would have answered to traffic the service really
// answered. Each logged decision is replayed twice with the inputs the log kept (token count, whether
// cost was simulated, spend to date): against the live policy (the baseline) and against the live
// policy with the bundle in force. Comparing the two replays, not the logged answer, keeps the
// differences the candidate's alone; a logged answer the live replay disagrees with is counted as
// drift (the policy changed during the window). Pure: no I/O; the caller feeds rows in chunks and
// stops at its own deadline.
import { type Evaluation, evaluate, type PolicyState, type SpendToDate } from "./evaluation.ts";
import {
  ALL_SCOPE,
  type FullPolicySet,
  type PolicyBundle,
  stateForCall,
  withBundle,
} from "./policy-bundle.ts";
import type { Decision, PolicyType } from "./vocabulary.ts";

/** One row of the decision log, as much of it as a replay reads. */
export interface LoggedDecision {
  id: string;
  tenant_id: string;
  agent_id: string | null;
  skill_id: string;
  policy_type: PolicyType;
  decision: Decision;
  approval_level_required: number;
  overrides_used: boolean;
  /** NULL on rows written before the replay inputs were kept (migration 0022). */
  tokens: number | null;
  simulate_cost: boolean | null;
  spend: SpendToDate | null;
  /** ISO 8601. */
  created_at: string;
}

/**
 * How an answer changed. `allow` is the automatic answer (levels 1–2, auto_approve and pre_approved,
 * never wait for a person: domain/evaluation.ts MIN_HUMAN_LEVEL), so `allow_to_requires_approval` is
 * the "auto-approved → needs approval". `level_up` / `level_down`: approval needed before and
 * after, at a higher or lower level.
 */
export const CHANGE_KINDS = [
  "allow_to_deny",
  "allow_to_requires_approval",
  "requires_approval_to_allow",
  "requires_approval_to_deny",
  "deny_to_allow",
  "deny_to_requires_approval",
  "level_up",
  "level_down",
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** Why a logged decision was not replayed. */
export const SKIP_REASONS = ["overrides_used", "no_replay_inputs", "out_of_scope"] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface AnswerSummary {
  decision: Decision;
  approval_level_required: number;
}

export interface PlanExample {
  decision_id: string;
  agent_id: string | null;
  created_at: string;
  /** The live policy's answer on the logged inputs. */
  before: AnswerSummary;
  /** The candidate's answer on the same inputs, with its reasons. */
  after: AnswerSummary & { reasons: string[] };
}

export interface PlanGroup {
  tenant_id: string;
  skill_id: string;
  change: ChangeKind;
  count: number;
  examples: PlanExample[];
}

/** What a replay found; the route adds the scope, hashes and window around it. */
export interface PlanTally {
  replayed: number;
  skipped: Record<SkipReason, number>;
  drifted: number;
  changed: number;
  /** Most changes first, then by tenant, skill and kind. */
  changes: PlanGroup[];
  totals: Record<ChangeKind, number>;
}

/** A replay under way: feed it rows with replayDecisions, read it with planTally. */
export interface PlanReplay {
  readonly scope: string;
  readonly live: FullPolicySet;
  readonly candidate: FullPolicySet;
  readonly examplesPerGroup: number;
  /** Each set's policy for a (tenant, skill, policy type), spend left out: many rows share one. */
  readonly states: Map<string, { live: PolicyState; candidate: PolicyState }>;
  readonly groups: Map<string, PlanGroup>;
  readonly tally: Omit<PlanTally, "changes">;
}

export function startReplay(live: FullPolicySet, bundle: PolicyBundle, examplesPerGroup: number): PlanReplay {
  return {
    scope: bundle.scope,
    live,
    candidate: withBundle(live, bundle),
    examplesPerGroup,
    states: new Map(),
    groups: new Map(),
    tally: {
      replayed: 0,
      skipped: { overrides_used: 0, no_replay_inputs: 0, out_of_scope: 0 },
      drifted: 0,
      changed: 0,
      totals: Object.fromEntries(CHANGE_KINDS.map((kind) => [kind, 0])) as Record<ChangeKind, number>,
    },
  };
}

/** Why a row is not replayed, or null when it is. */
export function skipReason(scope: string, row: LoggedDecision): SkipReason | null {
  if (scope !== ALL_SCOPE && row.tenant_id !== scope) return "out_of_scope";
  if (row.overrides_used) return "overrides_used";
  if (row.tokens === null || row.simulate_cost === null || row.spend === null) return "no_replay_inputs";
  return null;
}

/** Replays rows into `replay` (in the order given: the first examples of a group are the first rows). */
export function replayDecisions(replay: PlanReplay, rows: readonly LoggedDecision[]): void {
  for (const row of rows) replayOne(replay, row);
}

function replayOne(replay: PlanReplay, row: LoggedDecision): void {
  const reason = skipReason(replay.scope, row);
  const { tokens, simulate_cost: simulateCost, spend: logged } = row;
  if (reason !== null || tokens === null || simulateCost === null || logged === null) {
    replay.tally.skipped[reason ?? "no_replay_inputs"] += 1;
    return;
  }
  const call = {
    skillId: row.skill_id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    policyType: row.policy_type,
    // Evaluation reads the payload only for its token count (tokensOf): `tokens` gives back the
    // logged count exactly (a whole number, read first).
    payload: { tokens },
    simulateCost,
  };
  const states = statesFor(replay, call);
  const spend = spendOf(logged);
  const before = evaluate(call, { ...states.live, spend });
  const after = evaluate(call, { ...states.candidate, spend });
  replay.tally.replayed += 1;
  if (changeOf(answerOf(row), answerOf(before)) !== null) replay.tally.drifted += 1;
  const change = changeOf(answerOf(before), answerOf(after));
  if (change === null) return;
  replay.tally.changed += 1;
  replay.tally.totals[change] += 1;
  const key = JSON.stringify([row.tenant_id, row.skill_id, change]);
  let group = replay.groups.get(key);
  if (!group) {
    group = { tenant_id: row.tenant_id, skill_id: row.skill_id, change, count: 0, examples: [] };
    replay.groups.set(key, group);
  }
  group.count += 1;
  if (group.examples.length < replay.examplesPerGroup) {
    group.examples.push({
      decision_id: row.id,
      agent_id: row.agent_id,
      created_at: row.created_at,
      before: answerOf(before),
      after: { ...answerOf(after), reasons: after.reasons },
    });
  }
}

function statesFor(
  replay: PlanReplay,
  call: { tenantId: string; skillId: string; policyType: PolicyType },
): { live: PolicyState; candidate: PolicyState } {
  const key = JSON.stringify([call.tenantId, call.skillId, call.policyType]);
  let states = replay.states.get(key);
  if (!states) {
    const none: SpendToDate = { tenantDay: 0, tenantMonth: 0, agentDay: 0, agentMonth: 0 };
    states = {
      live: stateForCall(replay.live, call, none),
      candidate: stateForCall(replay.candidate, call, none),
    };
    replay.states.set(key, states);
  }
  return states;
}

/** The logged spend, each figure a number (a missing one counts as 0, as it would have been read). */
function spendOf(spend: SpendToDate): SpendToDate {
  const figure = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : 0);
  return {
    tenantDay: figure(spend.tenantDay),
    tenantMonth: figure(spend.tenantMonth),
    agentDay: figure(spend.agentDay),
    agentMonth: figure(spend.agentMonth),
  };
}

function answerOf(
  answer: Pick<Evaluation, "decision" | "approvalLevelRequired"> | LoggedDecision,
): AnswerSummary {
  return "approvalLevelRequired" in answer
    ? { decision: answer.decision, approval_level_required: answer.approvalLevelRequired }
    : { decision: answer.decision, approval_level_required: answer.approval_level_required };
}

/**
 * The change from one answer to another, or null when they are the same answer: the same decision
 * and, when approval is needed, the same level (the level of an allow or a deny asks nothing of anyone).
 */
export function changeOf(before: AnswerSummary, after: AnswerSummary): ChangeKind | null {
  if (before.decision === after.decision) {
    if (before.decision !== "requires_approval") return null;
    if (after.approval_level_required > before.approval_level_required) return "level_up";
    if (after.approval_level_required < before.approval_level_required) return "level_down";
    return null;
  }
  return `${before.decision}_to_${after.decision}` as ChangeKind;
}

/** The replay's findings so far, groups ordered by count (most first), then tenant, skill, kind. */
export function planTally(replay: PlanReplay): PlanTally {
  const changes = [...replay.groups.values()]
    .map((group) => ({ ...group, examples: [...group.examples] }))
    .sort(
      (a, b) =>
        b.count - a.count ||
        compare(a.tenant_id, b.tenant_id) ||
        compare(a.skill_id, b.skill_id) ||
        CHANGE_KINDS.indexOf(a.change) - CHANGE_KINDS.indexOf(b.change),
    );
  const { tally } = replay;
  return {
    replayed: tally.replayed,
    skipped: { ...tally.skipped },
    drifted: tally.drifted,
    changed: tally.changed,
    changes,
    totals: { ...tally.totals },
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The whole answer of a plan: the tally with what was planned, against what, over which window. */
export interface PlanReport extends PlanTally {
  scope: string;
  /** The live scope's hash: apply takes it as expected_base_sha256. */
  base_sha256: string;
  bundle_sha256: string;
  window: { since: string; until: string };
  /** The sample limit, and whether the window held more rows than it (the newest were replayed). */
  sample: { limit: number; rows: number; limited: boolean };
  /** The deadline came before every row was replayed: the counts cover the rows before it. */
  truncated: boolean;
}
