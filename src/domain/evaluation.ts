// Policy evaluation: pure logic, no I/O. Given a skill call and the policy rows that could apply,
// decide allow / deny / requires_approval and explain every check.
//
// Precedence:
// - approval-level rows: the most specific match wins; specificity ranks skill over agent over tenant
//   (a row naming the skill beats one naming only the agent, which beats one naming only the tenant).
// - capability rules: agent-specific beats tenant-wide, then an exact skill beats a prefix, then a
//   longer prefix beats a shorter one; at equal specificity deny > require_approval > allow.
// - the decision: deny if any hard violation, else requires_approval if any soft one, else allow.

import { MAX_COST_CENTS, MAX_TOKENS } from "./limits.ts";
import {
  APPROVAL_LEVELS,
  type ApprovalLevelName,
  type BudgetEnforcement,
  type BudgetPeriod,
  type CapabilityEffect,
  type CheckName,
  type CheckOutcome,
  DEFAULT_POLICY,
  type Decision,
  type EscalationTier,
  levelName,
  type PolicyType,
  toLevel,
} from "./vocabulary.ts";

/** A call needing approval needs at least this level: levels 1–2 are automatic by definition. */
export const MIN_HUMAN_LEVEL = APPROVAL_LEVELS.agent_approve;
const STRICTEST_LEVEL = APPROVAL_LEVELS.owner_override;

export interface ApprovalLevelPolicy {
  id: number | null;
  tenantId: string | null;
  agentId: string | null;
  skillId: string | null;
  approvalLevel: string;
  autoApproveMaxCostCents: number;
  autoApproveMaxTokens: number;
  escalateTo: string | null;
  escalationTimeoutSeconds: number;
  /** Ordered escalation tiers; empty: one step to escalateTo after escalationTimeoutSeconds. */
  escalationChain?: EscalationTier[] | undefined;
  requiredApprovals: number;
  enabled: boolean;
}

export interface CapabilityRule {
  id: number | null;
  tenantId: string;
  agentId: string | null;
  skillPattern: string;
  effect: CapabilityEffect;
  approvalLevel: string | null;
  enabled: boolean;
}

export interface Budget {
  id: number | null;
  tenantId: string;
  agentId: string | null;
  period: BudgetPeriod;
  limitCents: number;
  enforcement: BudgetEnforcement;
  enabled: boolean;
}

/** Spend so far in the current UTC day and month, for the tenant and for the calling agent. */
export interface SpendToDate {
  tenantDay: number;
  tenantMonth: number;
  agentDay: number;
  agentMonth: number;
}

export interface SkillCost {
  skillId: string;
  baseCents: number;
  centsPer1kTokens: number;
}

export interface PolicySettings {
  capabilityDefaultEffect: CapabilityEffect;
  unknownSkillCostCents: number;
}

export interface EvaluationInput {
  skillId: string;
  tenantId: string;
  agentId: string | null;
  policyType: PolicyType;
  payload: unknown;
  simulateCost: boolean;
}

export interface PolicyState {
  approvalLevels: ApprovalLevelPolicy[];
  capabilityRules: CapabilityRule[];
  budgets: Budget[];
  skillCosts: SkillCost[];
  settings: PolicySettings;
  spend: SpendToDate;
}

export interface Violation {
  type: "capability_denied" | "budget_exceeded" | "approval_required";
  check: CheckName;
  severity: "hard" | "soft";
  message: string;
}

export interface Check {
  check: CheckName;
  outcome: CheckOutcome;
  detail: string;
  /** The rule that decided this check; null when a default applied. */
  rule: Record<string, unknown> | null;
  /** Level needed when the outcome is require_approval. */
  level?: number;
}

export interface Evaluation {
  decision: Decision;
  reasons: string[];
  violations: Violation[];
  checks: Check[];
  simulatedCostCents: number;
  tokens: number;
  approvalLevelRequired: number;
  /** The approval-level row that applied (null: the built-in default). */
  policy: ApprovalLevelPolicy | null;
  /** The policy type whose check decided: what nova_policy_decisions_total is labelled with. */
  decidingPolicyType: PolicyType;
}

/** Payload fields read as the call's token count, first present wins (input + output tokens last). */
export const TOKEN_FIELDS = ["tokens", "estimated_tokens", "max_tokens"] as const;
const ALL_TOKEN_FIELDS = [...TOKEN_FIELDS, "input_tokens", "output_tokens"] as const;

/**
 * A token count that feeds cost arithmetic must be a number from 0 to MAX_TOKENS: anything else in
 * one of these fields is refused (a string or 1e308 must not slip past the token ceiling or overflow
 * the cost). Returns the offending field and why, or null.
 */
export function tokenFieldProblem(payload: unknown): { field: string; message: string } | null {
  if (typeof payload !== "object" || payload === null) return null;
  const record = payload as Record<string, unknown>;
  for (const field of ALL_TOKEN_FIELDS) {
    const value = record[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_TOKENS) {
      return { field, message: `must be a number of tokens from 0 to ${MAX_TOKENS}` };
    }
  }
  return null;
}

export function tokensOf(payload: unknown): number {
  if (typeof payload !== "object" || payload === null) return 0;
  const record = payload as Record<string, unknown>;
  const count = (value: unknown) =>
    typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
  for (const field of TOKEN_FIELDS) {
    const value = count(record[field]);
    if (value !== undefined) return value;
  }
  const input = count(record.input_tokens);
  const output = count(record.output_tokens);
  return input === undefined && output === undefined ? 0 : (input ?? 0) + (output ?? 0);
}

export function simulateCost(
  skillId: string,
  tokens: number,
  costs: SkillCost[],
  settings: PolicySettings,
): { cents: number; model: SkillCost | null } {
  const model = costs.find((cost) => cost.skillId === skillId) ?? null;
  if (!model) return { cents: Math.min(settings.unknownSkillCostCents, MAX_COST_CENTS), model: null };
  const cents = model.baseCents + Math.ceil((tokens * model.centsPer1kTokens) / 1000);
  // Saturates rather than overflowing the cost columns; every limit and ceiling is far below it.
  return { cents: Math.min(cents, MAX_COST_CENTS), model };
}

/** Level of a stored name; a name that is not a level (written by hand in SQL) counts as the strictest. */
export function policyLevel(name: string): { level: number; known: boolean } {
  const level = toLevel(name);
  return level === undefined ? { level: STRICTEST_LEVEL, known: false } : { level, known: true };
}

export function matchApprovalLevel(
  rows: ApprovalLevelPolicy[],
  call: Pick<EvaluationInput, "tenantId" | "agentId" | "skillId">,
): ApprovalLevelPolicy | null {
  const specificity = (row: ApprovalLevelPolicy) =>
    (row.skillId !== null ? 4 : 0) + (row.agentId !== null ? 2 : 0) + (row.tenantId !== null ? 1 : 0);
  const candidates = rows.filter(
    (row) =>
      row.enabled &&
      (row.tenantId === null || row.tenantId === call.tenantId) &&
      (row.agentId === null || row.agentId === call.agentId) &&
      (row.skillId === null || row.skillId === call.skillId),
  );
  // Ties cannot happen for stored rows (one row per scope); for overrides the first listed wins.
  return candidates.reduce<ApprovalLevelPolicy | null>(
    (best, row) => (best === null || specificity(row) > specificity(best) ? row : best),
    null,
  );
}

/** Characters that end a namespace: `shell.*` covers the skill `shell` itself, not `shellfish`. */
const NAMESPACE_SEPARATORS = [".", ":", "/"];

/**
 * Whether a capability rule's pattern covers a skill id, both in the canonical form (domain/limits.ts),
 * compared exactly: `*` covers every skill; a prefix `p*` every id starting with p, and the namespace
 * itself when p ends in a separator (a `shell.*` deny also denies `shell`); anything else the one id.
 */
export function skillPatternMatches(pattern: string, skillId: string): boolean {
  if (pattern === "*") return true;
  if (!pattern.endsWith("*")) return pattern === skillId;
  const prefix = pattern.slice(0, -1);
  if (skillId.startsWith(prefix)) return true;
  return NAMESPACE_SEPARATORS.some((separator) => prefix === `${skillId}${separator}`);
}

const EFFECT_RANK: Record<CapabilityEffect, number> = { deny: 3, require_approval: 2, allow: 1 };

export function matchCapabilityRule(
  rules: CapabilityRule[],
  call: Pick<EvaluationInput, "tenantId" | "agentId" | "skillId">,
): CapabilityRule | null {
  const rank = (rule: CapabilityRule): number[] => [
    rule.agentId !== null ? 1 : 0,
    rule.skillPattern.endsWith("*") ? 0 : 1,
    rule.skillPattern.length,
    EFFECT_RANK[rule.effect],
  ];
  const better = (a: number[], b: number[]) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] ?? 0) > (b[i] ?? 0);
    return false;
  };
  let best: CapabilityRule | null = null;
  for (const rule of rules) {
    if (!rule.enabled || rule.tenantId !== call.tenantId) continue;
    if (rule.agentId !== null && rule.agentId !== call.agentId) continue;
    if (!skillPatternMatches(rule.skillPattern, call.skillId)) continue;
    if (best === null || better(rank(rule), rank(best))) best = rule;
  }
  return best;
}

// The rule behind a check, as the API shows it: what kind, which row (null id: a proposed override).
function describePolicy(row: ApprovalLevelPolicy | null): Record<string, unknown> | null {
  return row
    ? {
        kind: "approval_level",
        id: row.id,
        tenant_id: row.tenantId,
        agent_id: row.agentId,
        skill_id: row.skillId,
        approval_level: row.approvalLevel,
        auto_approve_max_cost_cents: row.autoApproveMaxCostCents,
        auto_approve_max_tokens: row.autoApproveMaxTokens,
      }
    : null;
}

function describeCapabilityRule(rule: CapabilityRule | null): Record<string, unknown> | null {
  return rule
    ? {
        kind: "capability_rule",
        id: rule.id,
        tenant_id: rule.tenantId,
        agent_id: rule.agentId,
        skill_pattern: rule.skillPattern,
        effect: rule.effect,
        approval_level: rule.approvalLevel,
      }
    : null;
}

function describeBudget(budget: Budget): Record<string, unknown> {
  return {
    kind: "budget",
    id: budget.id,
    tenant_id: budget.tenantId,
    agent_id: budget.agentId,
    period: budget.period,
    limit_cents: budget.limitCents,
    enforcement: budget.enforcement,
  };
}

// ---------------------------------------------------------------------------------------------------
// The evaluation: one function per check, run in a fixed order, then one decision over their results.

/** What one check concluded: the check as the API shows it, and the violation it raises, if any. */
interface CheckResult {
  check: Check;
  violation?: Violation;
}

/** A check that objects, and the violation it raises (which names the same check). */
function objection(check: Check, violation: Omit<Violation, "check">): CheckResult {
  return {
    check,
    violation: {
      type: violation.type,
      check: check.check,
      severity: violation.severity,
      message: violation.message,
    },
  };
}

/** The approval-level row an evaluation applies (or the built-in default), resolved once for every check. */
interface AppliedPolicy {
  /** The matched row; null when the built-in default applies. */
  row: ApprovalLevelPolicy | null;
  /** The stored level name, as written (may not be a level: see `known`). */
  approvalLevel: string;
  autoApproveMaxCostCents: number;
  autoApproveMaxTokens: number;
  /** The row's level; an unknown name counts as the strictest. */
  level: number;
  known: boolean;
  /** The level a soft violation asks for: the policy's level, but never an automatic one. */
  approvalNeeded: number;
  /** How reasons and details name it: "policy row 7", "policy row (override)", "the default policy". */
  text: string;
}

function appliedPolicy(input: EvaluationInput, state: PolicyState): AppliedPolicy {
  const row = matchApprovalLevel(state.approvalLevels, input);
  const settings = row ?? {
    approvalLevel: DEFAULT_POLICY.approvalLevel,
    autoApproveMaxCostCents: DEFAULT_POLICY.autoApproveMaxCostCents,
    autoApproveMaxTokens: DEFAULT_POLICY.autoApproveMaxTokens,
  };
  const { level, known } = policyLevel(settings.approvalLevel);
  return {
    row,
    approvalLevel: settings.approvalLevel,
    autoApproveMaxCostCents: settings.autoApproveMaxCostCents,
    autoApproveMaxTokens: settings.autoApproveMaxTokens,
    level,
    known,
    approvalNeeded: Math.max(level, MIN_HUMAN_LEVEL),
    text: row ? `policy row ${row.id ?? "(override)"}` : "the default policy",
  };
}

/** The capability check: the best-matching capability rule (or the tenant's default effect) decides. */
function checkCapability(input: EvaluationInput, state: PolicyState, policy: AppliedPolicy): CheckResult {
  const rule = matchCapabilityRule(state.capabilityRules, input);
  const effect = rule?.effect ?? state.settings.capabilityDefaultEffect;
  const ruleText = rule
    ? `rule ${rule.id ?? "(override)"} (${rule.skillPattern})`
    : "the default capability effect";
  if (effect === "deny") {
    return objection(
      {
        check: "capability",
        outcome: "deny",
        detail: `denied by ${ruleText}`,
        rule: describeCapabilityRule(rule),
      },
      {
        type: "capability_denied",
        severity: "hard",
        message: `Skill ${input.skillId} is not allowed for ${callerText(input)} (${ruleText})`,
      },
    );
  }
  if (effect === "require_approval") {
    const ruleLevel = rule?.approvalLevel ? policyLevel(rule.approvalLevel).level : undefined;
    return objection(
      {
        check: "capability",
        outcome: "require_approval",
        detail: `approval required by ${ruleText}`,
        rule: describeCapabilityRule(rule),
        level: Math.max(ruleLevel ?? policy.approvalNeeded, MIN_HUMAN_LEVEL),
      },
      {
        type: "approval_required",
        severity: "soft",
        message: `Skill ${input.skillId} needs approval for ${callerText(input)} (${ruleText})`,
      },
    );
  }
  return {
    check: {
      check: "capability",
      outcome: "pass",
      detail: `allowed by ${ruleText}`,
      rule: describeCapabilityRule(rule),
    },
  };
}

/** The budget checks: one per enabled budget of the tenant or the calling agent, against the call's cost. */
function checkBudgets(
  input: EvaluationInput,
  state: PolicyState,
  costCents: number,
  policy: AppliedPolicy,
): CheckResult[] {
  if (!input.simulateCost) {
    return [
      {
        check: {
          check: "budget",
          outcome: "skipped",
          detail: "cost simulation turned off (simulate_cost=false)",
          rule: null,
        },
      },
    ];
  }
  const applicable = state.budgets.filter(
    (budget) =>
      budget.enabled &&
      budget.tenantId === input.tenantId &&
      (budget.agentId === null || budget.agentId === input.agentId),
  );
  if (applicable.length === 0) {
    return [{ check: { check: "budget", outcome: "pass", detail: "no budget applies", rule: null } }];
  }
  return applicable.map((budget) => checkBudget(budget, state.spend, costCents, policy));
}

/** One budget: within its limit passes; over it denies (hard) or asks for approval (soft). */
function checkBudget(
  budget: Budget,
  spend: SpendToDate,
  costCents: number,
  policy: AppliedPolicy,
): CheckResult {
  const spent = spendFor(budget, spend);
  const projected = spent + costCents;
  const scope = budget.agentId ? `agent ${budget.agentId}` : `tenant ${budget.tenantId}`;
  const text = `${budget.period === "day" ? "daily" : "monthly"} budget of ${scope}: ${spent} spent + ${costCents} = ${projected} of ${budget.limitCents} cents`;
  if (projected <= budget.limitCents) {
    return { check: { check: "budget", outcome: "pass", detail: text, rule: describeBudget(budget) } };
  }
  if (budget.enforcement === "hard") {
    return objection(
      { check: "budget", outcome: "deny", detail: `over the hard ${text}`, rule: describeBudget(budget) },
      { type: "budget_exceeded", severity: "hard", message: `Over the hard ${text}` },
    );
  }
  return objection(
    {
      check: "budget",
      outcome: "require_approval",
      detail: `over the soft ${text}`,
      rule: describeBudget(budget),
      level: policy.approvalNeeded,
    },
    { type: "budget_exceeded", severity: "soft", message: `Over the soft ${text}` },
  );
}

/** The cost ceiling: a simulated cost above the policy's auto-approve ceiling needs approval. */
function checkCostCeiling(input: EvaluationInput, costCents: number, policy: AppliedPolicy): CheckResult {
  if (!input.simulateCost) {
    return {
      check: { check: "cost_ceiling", outcome: "skipped", detail: "cost simulation turned off", rule: null },
    };
  }
  return checkCeiling("cost_ceiling", costCents, policy.autoApproveMaxCostCents, "cents", policy);
}

/** The token ceiling: more tokens than the policy's auto-approve ceiling needs approval. */
function checkTokenCeiling(tokens: number, policy: AppliedPolicy): CheckResult {
  return checkCeiling("token_ceiling", tokens, policy.autoApproveMaxTokens, "tokens", policy);
}

function checkCeiling(
  check: "cost_ceiling" | "token_ceiling",
  value: number,
  ceiling: number,
  unit: string,
  policy: AppliedPolicy,
): CheckResult {
  if (value <= ceiling) {
    return {
      check: {
        check,
        outcome: "pass",
        detail: `${value} ${unit} within the auto-approve ceiling ${ceiling} of ${policy.text}`,
        rule: describePolicy(policy.row),
      },
    };
  }
  const message = `${value} ${unit} is above the auto-approve ceiling of ${ceiling} (${policy.text})`;
  return objection(
    {
      check,
      outcome: "require_approval",
      detail: message,
      rule: describePolicy(policy.row),
      level: policy.approvalNeeded,
    },
    { type: "approval_required", severity: "soft", message },
  );
}

/** The approval-level check: a policy at a human level needs that approval whatever the ceilings say. */
function checkApprovalLevel(policy: AppliedPolicy): CheckResult {
  const policyName = levelName(policy.level) as ApprovalLevelName;
  if (policy.level >= MIN_HUMAN_LEVEL) {
    const message = `${policy.text} requires ${policyName} approval`;
    return objection(
      {
        check: "approval_level",
        outcome: "require_approval",
        detail: message,
        rule: describePolicy(policy.row),
        level: policy.level,
      },
      { type: "approval_required", severity: "soft", message },
    );
  }
  return {
    check: {
      check: "approval_level",
      outcome: "pass",
      detail: `${policy.text} is ${policyName}: automatic within its ceilings`,
      rule: describePolicy(policy.row),
    },
  };
}

/** What the checks add up to: deny on any hard violation, else requires_approval on any soft one, else allow. */
interface Verdict {
  decision: Decision;
  /** The violations the decision rests on: the hard ones for deny, all for requires_approval, none for allow. */
  deciding: Violation[];
  approvalLevelRequired: number;
}

function decide(checks: Check[], violations: Violation[], policy: AppliedPolicy): Verdict {
  const hard = violations.filter((violation) => violation.severity === "hard");
  if (hard.length > 0) return { decision: "deny", deciding: hard, approvalLevelRequired: policy.level };
  if (violations.length === 0)
    return { decision: "allow", deciding: [], approvalLevelRequired: policy.level };
  // The strictest level any check asks for.
  const levels = checks.flatMap((check) =>
    check.outcome === "require_approval" && check.level ? [check.level] : [],
  );
  return { decision: "requires_approval", deciding: violations, approvalLevelRequired: Math.max(...levels) };
}

/** The reasons, in order: an unknown stored level first, then what decided. */
function reasonsFor(policy: AppliedPolicy, checks: Check[], verdict: Verdict): string[] {
  const reasons: string[] = [];
  if (!policy.known) {
    reasons.push(
      `Policy row ${policy.row?.id ?? null} has unknown approval level '${policy.approvalLevel}'; treated as owner_override`,
    );
  }
  if (verdict.decision === "allow") {
    reasons.push(`Allowed: ${checks.filter((c) => c.outcome === "pass").length} checks passed`);
  }
  for (const violation of verdict.deciding) reasons.push(violation.message);
  if (verdict.decision === "requires_approval") {
    const level = verdict.approvalLevelRequired;
    reasons.push(`Approval needed at level ${level} (${levelName(level)})`);
  }
  return reasons;
}

/** The policy type the first deciding violation belongs to; the requested type when nothing objected. */
function decidingPolicyType(verdict: Verdict, requested: PolicyType): PolicyType {
  const check = verdict.deciding[0]?.check;
  if (check === "capability") return "capability";
  if (check === "budget") return "resource";
  return requested;
}

/**
 * Evaluates a call: capability, budgets, cost ceiling, token ceiling, approval level, in that order
 * (the order of `checks`, `violations` and the reasons), then the decision over all of them.
 */
export function evaluate(input: EvaluationInput, state: PolicyState): Evaluation {
  const policy = appliedPolicy(input, state);
  const tokens = tokensOf(input.payload);
  const costCents = input.simulateCost
    ? simulateCost(input.skillId, tokens, state.skillCosts, state.settings).cents
    : 0;

  const results: CheckResult[] = [
    checkCapability(input, state, policy),
    ...checkBudgets(input, state, costCents, policy),
    checkCostCeiling(input, costCents, policy),
    checkTokenCeiling(tokens, policy),
    checkApprovalLevel(policy),
  ];
  const checks = results.map((result) => result.check);
  const violations = results.flatMap((result) => (result.violation ? [result.violation] : []));
  const verdict = decide(checks, violations, policy);

  return {
    decision: verdict.decision,
    reasons: reasonsFor(policy, checks, verdict),
    violations,
    checks,
    simulatedCostCents: costCents,
    tokens,
    approvalLevelRequired: verdict.approvalLevelRequired,
    policy: policy.row,
    decidingPolicyType: decidingPolicyType(verdict, input.policyType),
  };
}

/**
 * A budget outcome a judgment relied on: whether `spend` to date was above `threshold` (the budget's
 * limit less the call's cost). A write made on the judgment's strength may go ahead while every
 * assumption still holds, however the spend moved: the same evaluation would decide the same.
 */
export interface SpendAssumption {
  spend: keyof SpendToDate;
  threshold: number;
  over: boolean;
}

/** The spend facts the budget checks of an evaluation of `input` with `costCents` rest on. */
export function spendAssumptions(
  input: Pick<EvaluationInput, "tenantId" | "agentId" | "simulateCost">,
  state: Pick<PolicyState, "budgets" | "spend">,
  costCents: number,
): SpendAssumption[] {
  if (!input.simulateCost) return [];
  const assumptions = new Map<string, SpendAssumption>();
  for (const budget of state.budgets) {
    if (!budget.enabled || budget.tenantId !== input.tenantId) continue;
    if (budget.agentId !== null && budget.agentId !== input.agentId) continue;
    const spend: keyof SpendToDate =
      budget.agentId === null
        ? budget.period === "day"
          ? "tenantDay"
          : "tenantMonth"
        : budget.period === "day"
          ? "agentDay"
          : "agentMonth";
    const threshold = budget.limitCents - costCents;
    assumptions.set(`${spend}:${threshold}`, {
      spend,
      threshold,
      over: spendFor(budget, state.spend) > threshold,
    });
  }
  return [...assumptions.values()];
}

function spendFor(budget: Budget, spend: SpendToDate): number {
  if (budget.agentId === null) return budget.period === "day" ? spend.tenantDay : spend.tenantMonth;
  return budget.period === "day" ? spend.agentDay : spend.agentMonth;
}

function callerText(input: Pick<EvaluationInput, "tenantId" | "agentId">): string {
  return input.agentId ? `agent ${input.agentId} of tenant ${input.tenantId}` : `tenant ${input.tenantId}`;
}
