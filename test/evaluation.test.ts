// Policy evaluation rules (src/domain/evaluation.ts), without I/O: precedence, ties, defaults, costs.
import { describe, expect, it } from "vitest";
import {
  type ApprovalLevelPolicy,
  type Budget,
  type CapabilityRule,
  type EvaluationInput,
  evaluate,
  matchApprovalLevel,
  matchCapabilityRule,
  type PolicyState,
  simulateCost,
  tokensOf,
} from "../src/domain/evaluation.ts";

const call: EvaluationInput = {
  skillId: "email.send",
  tenantId: "acme",
  agentId: "bot-1",
  policyType: "cost",
  payload: {},
  simulateCost: true,
};

function level(overrides: Partial<ApprovalLevelPolicy>): ApprovalLevelPolicy {
  return {
    id: 1,
    tenantId: null,
    agentId: null,
    skillId: null,
    approvalLevel: "auto_approve",
    autoApproveMaxCostCents: 100,
    autoApproveMaxTokens: 1000,
    escalateTo: null,
    escalationTimeoutSeconds: 300,
    requiredApprovals: 1,
    enabled: true,
    ...overrides,
  };
}

function rule(overrides: Partial<CapabilityRule>): CapabilityRule {
  return {
    id: 1,
    tenantId: "acme",
    agentId: null,
    skillPattern: "*",
    effect: "allow",
    approvalLevel: null,
    enabled: true,
    ...overrides,
  };
}

function budget(overrides: Partial<Budget>): Budget {
  return {
    id: 1,
    tenantId: "acme",
    agentId: null,
    period: "day",
    limitCents: 1000,
    enforcement: "hard",
    enabled: true,
    ...overrides,
  };
}

function state(overrides: Partial<PolicyState> = {}): PolicyState {
  return {
    approvalLevels: [level({})],
    capabilityRules: [],
    budgets: [],
    skillCosts: [],
    settings: { capabilityDefaultEffect: "allow", unknownSkillCostCents: 10 },
    spend: { tenantDay: 0, tenantMonth: 0, agentDay: 0, agentMonth: 0 },
    ...overrides,
  };
}

describe("approval-level matching", () => {
  it("prefers skill over agent over tenant over global", () => {
    const rows = [
      level({ id: 1 }),
      level({ id: 2, tenantId: "acme" }),
      level({ id: 3, tenantId: "acme", agentId: "bot-1" }),
      level({ id: 4, skillId: "email.send" }),
    ];
    expect(matchApprovalLevel(rows, call)?.id).toBe(4);
    expect(matchApprovalLevel(rows.slice(0, 3), call)?.id).toBe(3);
    expect(matchApprovalLevel(rows.slice(0, 2), call)?.id).toBe(2);
    expect(matchApprovalLevel(rows.slice(0, 1), call)?.id).toBe(1);
  });

  it("ignores other scopes and disabled rows, and falls back to the built-in default", () => {
    const rows = [level({ id: 5, tenantId: "globex" }), level({ id: 6, tenantId: "acme", enabled: false })];
    expect(matchApprovalLevel(rows, call)).toBeNull();
    const result = evaluate(call, state({ approvalLevels: rows }));
    expect(result.policy).toBeNull();
    // Default: agent_approve (3).
    expect(result).toMatchObject({ decision: "requires_approval", approvalLevelRequired: 3 });
  });
});

describe("capability rules", () => {
  it("prefers agent-specific, then exact, then longer prefix", () => {
    const rules = [
      rule({ id: 1, skillPattern: "*", effect: "deny" }),
      rule({ id: 2, skillPattern: "email.*", effect: "deny" }),
      rule({ id: 3, skillPattern: "email.send", effect: "require_approval" }),
      rule({ id: 4, skillPattern: "email.*", agentId: "bot-1", effect: "allow" }),
    ];
    expect(matchCapabilityRule(rules, call)?.id).toBe(4);
    expect(matchCapabilityRule(rules.slice(0, 3), call)?.id).toBe(3);
    expect(matchCapabilityRule(rules.slice(0, 2), call)?.id).toBe(2);
    expect(
      matchCapabilityRule(
        [rule({ id: 7, skillPattern: "em*" }), rule({ id: 8, skillPattern: "email*" })],
        call,
      )?.id,
    ).toBe(8);
  });

  it("breaks ties at equal specificity: deny beats require_approval beats allow, in any order", () => {
    const allow = rule({ id: 1, skillPattern: "email.*", effect: "allow" });
    const approve = rule({ id: 2, skillPattern: "email.*", effect: "require_approval" });
    const deny = rule({ id: 3, skillPattern: "email.*", effect: "deny" });
    for (const order of [
      [allow, approve, deny],
      [deny, approve, allow],
      [approve, deny, allow],
    ]) {
      expect(matchCapabilityRule(order, call)?.effect).toBe("deny");
    }
    expect(matchCapabilityRule([allow, approve], call)?.effect).toBe("require_approval");
    expect(matchCapabilityRule([approve, allow], call)?.effect).toBe("require_approval");
  });

  it("does not apply other tenants', other agents' or non-matching rules", () => {
    const rules = [
      rule({ tenantId: "globex", effect: "deny" }),
      rule({ agentId: "bot-2", effect: "deny" }),
      rule({ skillPattern: "email.sendmail", effect: "deny" }),
      rule({ skillPattern: "emails.*", effect: "deny" }),
    ];
    expect(matchCapabilityRule(rules, call)).toBeNull();
  });

  it("uses the configurable default when nothing matches", () => {
    const allowAll = state();
    expect(evaluate(call, allowAll).checks[0]).toMatchObject({
      check: "capability",
      outcome: "pass",
      rule: null,
    });
    const denyAll = state({ settings: { capabilityDefaultEffect: "deny", unknownSkillCostCents: 10 } });
    expect(evaluate(call, denyAll)).toMatchObject({ decision: "deny", decidingPolicyType: "capability" });
  });

  it("makes a deny a hard capability violation, whatever else passes", () => {
    const result = evaluate(
      call,
      state({ capabilityRules: [rule({ effect: "deny", skillPattern: "email.*" })] }),
    );
    expect(result.decision).toBe("deny");
    expect(result.violations).toEqual([
      expect.objectContaining({ type: "capability_denied", severity: "hard" }),
    ]);
  });

  it("requires approval at the rule's level, and at least agent_approve", () => {
    const atRule = evaluate(
      call,
      state({ capabilityRules: [rule({ effect: "require_approval", approvalLevel: "owner_override" })] }),
    );
    expect(atRule).toMatchObject({ decision: "requires_approval", approvalLevelRequired: 5 });
    const atLeastThree = evaluate(
      call,
      state({ capabilityRules: [rule({ effect: "require_approval", approvalLevel: "pre_approved" })] }),
    );
    expect(atLeastThree.approvalLevelRequired).toBe(3);
  });
});

describe("approval levels and ceilings", () => {
  it("allows auto_approve and pre_approved calls within both ceilings", () => {
    for (const approvalLevel of ["auto_approve", "pre_approved"]) {
      const result = evaluate(
        { ...call, payload: { tokens: 1000 } },
        state({ approvalLevels: [level({ approvalLevel })] }),
      );
      expect(result.decision, approvalLevel).toBe("allow");
    }
  });

  it("requires approval above the cost ceiling or the token ceiling", () => {
    const overCost = evaluate(
      call,
      state({ skillCosts: [{ skillId: "email.send", baseCents: 101, centsPer1kTokens: 0 }] }),
    );
    expect(overCost).toMatchObject({ decision: "requires_approval", approvalLevelRequired: 3 });
    expect(overCost.violations.map((v) => v.check)).toEqual(["cost_ceiling"]);
    const overTokens = evaluate({ ...call, payload: { tokens: 1001 } }, state());
    expect(overTokens.violations.map((v) => v.check)).toEqual(["token_ceiling"]);
  });

  it("requires approval at the policy's level from agent_approve up", () => {
    for (const [approvalLevel, expected] of [
      ["agent_approve", 3],
      ["manual_approve", 4],
      ["owner_override", 5],
    ] as const) {
      const result = evaluate(call, state({ approvalLevels: [level({ approvalLevel })] }));
      expect(result).toMatchObject({ decision: "requires_approval", approvalLevelRequired: expected });
    }
  });

  it("treats an unknown level name written by SQL as the strictest, and says so", () => {
    const result = evaluate(
      call,
      state({ approvalLevels: [level({ id: 9, approvalLevel: "Manual Approve" })] }),
    );
    expect(result).toMatchObject({ decision: "requires_approval", approvalLevelRequired: 5 });
    expect(result.reasons[0]).toContain("unknown approval level 'Manual Approve'");
  });
});

describe("budgets", () => {
  const spend = { tenantDay: 900, tenantMonth: 5000, agentDay: 50, agentMonth: 60 };

  it("denies over a hard budget and asks for approval over a soft one", () => {
    const hard = evaluate(call, state({ spend, budgets: [budget({ limitCents: 905 })] }));
    expect(hard).toMatchObject({ decision: "deny", decidingPolicyType: "resource" });
    expect(hard.violations[0]).toMatchObject({ type: "budget_exceeded", severity: "hard" });
    const soft = evaluate(
      call,
      state({ spend, budgets: [budget({ limitCents: 905, enforcement: "soft" })] }),
    );
    expect(soft.decision).toBe("requires_approval");
  });

  it("counts spend plus this call's cost against the limit, inclusive", () => {
    // 900 spent + 10 cents (unknown skill) = 910.
    expect(evaluate(call, state({ spend, budgets: [budget({ limitCents: 910 })] })).decision).toBe("allow");
    expect(evaluate(call, state({ spend, budgets: [budget({ limitCents: 909 })] })).decision).toBe("deny");
  });

  it("uses the period's and the scope's spend", () => {
    const monthly = budget({ period: "month", limitCents: 5005 });
    expect(evaluate(call, state({ spend, budgets: [monthly] })).decision).toBe("deny");
    const agentDaily = budget({ agentId: "bot-1", limitCents: 60 });
    expect(evaluate(call, state({ spend, budgets: [agentDaily] })).decision).toBe("allow");
    const otherAgent = budget({ agentId: "bot-2", limitCents: 0 });
    expect(evaluate(call, state({ spend, budgets: [otherAgent] })).decision).toBe("allow");
  });

  it("skips budgets and the cost ceiling when cost simulation is off", () => {
    const result = evaluate(
      { ...call, simulateCost: false },
      state({ spend, budgets: [budget({ limitCents: 0 })] }),
    );
    expect(result.decision).toBe("allow");
    expect(result.simulatedCostCents).toBe(0);
    expect(result.checks.filter((check) => check.outcome === "skipped").map((check) => check.check)).toEqual([
      "budget",
      "cost_ceiling",
    ]);
  });
});

describe("cost simulation", () => {
  const settings = { capabilityDefaultEffect: "allow" as const, unknownSkillCostCents: 10 };

  it("reads tokens from the documented payload fields, first present wins", () => {
    expect(tokensOf({ tokens: 5, max_tokens: 9 })).toBe(5);
    expect(tokensOf({ estimated_tokens: 7, max_tokens: 9 })).toBe(7);
    expect(tokensOf({ max_tokens: 9 })).toBe(9);
    expect(tokensOf({ input_tokens: 3, output_tokens: 4 })).toBe(7);
    expect(tokensOf({ tokens: -1, max_tokens: "9", output_tokens: 2.2 })).toBe(3);
    expect(tokensOf(null)).toBe(0);
  });

  it("charges base plus per-1k tokens, rounded up, and 10 cents for unknown skills", () => {
    const costs = [{ skillId: "llm.chat", baseCents: 2, centsPer1kTokens: 3 }];
    expect(simulateCost("llm.chat", 1500, costs, settings).cents).toBe(2 + 5);
    expect(simulateCost("llm.chat", 0, costs, settings).cents).toBe(2);
    expect(simulateCost("unknown.skill", 99_999, costs, settings)).toEqual({ cents: 10, model: null });
  });

  it("is deterministic: the same input gives the same evaluation", () => {
    const input = { ...call, payload: { tokens: 1234 } };
    const policy = state({ skillCosts: [{ skillId: "email.send", baseCents: 3, centsPer1kTokens: 7 }] });
    expect(evaluate(input, policy)).toEqual(evaluate(input, policy));
  });
});
