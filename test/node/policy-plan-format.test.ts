// The plan's text form (scripts/lib/policy-plan-format.ts): the header, the table by tenant and skill
// with an example each, the totals and the skips, exactly; an empty plan and a truncated one say so.
import { describe, expect, it } from "vitest";
import { formatPlan } from "../../scripts/lib/policy-plan-format.ts";
import type { PlanReport } from "../../src/domain/policy-plan.ts";

const zeroTotals = {
  allow_to_deny: 0,
  allow_to_requires_approval: 0,
  requires_approval_to_allow: 0,
  requires_approval_to_deny: 0,
  deny_to_allow: 0,
  deny_to_requires_approval: 0,
  level_up: 0,
  level_down: 0,
};

function report(overrides: Partial<PlanReport> = {}): PlanReport {
  return {
    scope: "acme",
    base_sha256: "a".repeat(64),
    bundle_sha256: "b".repeat(64),
    window: { since: "2026-11-26T12:00:00.000Z", until: "2026-12-03T12:00:00.000Z" },
    sample: { limit: 10_000, rows: 12, limited: false },
    replayed: 9,
    skipped: { overrides_used: 1, no_replay_inputs: 2, out_of_scope: 0 },
    drifted: 1,
    changed: 5,
    changes: [
      {
        tenant_id: "acme",
        skill_id: "search.web",
        change: "allow_to_deny",
        count: 3,
        examples: [
          {
            decision_id: "dec_00000000000000000003",
            agent_id: "bot-1",
            created_at: "2026-12-03T11:00:00.000Z",
            before: { decision: "allow", approval_level_required: 1 },
            after: {
              decision: "deny",
              approval_level_required: 1,
              reasons: ["Skill search.web is not allowed"],
            },
          },
        ],
      },
      {
        tenant_id: "acme",
        skill_id: "files.read",
        change: "level_up",
        count: 2,
        examples: [
          {
            decision_id: "dec_00000000000000000009",
            agent_id: null,
            created_at: "2026-12-03T10:00:00.000Z",
            before: { decision: "requires_approval", approval_level_required: 3 },
            after: { decision: "requires_approval", approval_level_required: 4, reasons: [] },
          },
        ],
      },
      {
        tenant_id: "acme",
        skill_id: "email.send",
        change: "allow_to_requires_approval",
        count: 1,
        examples: [],
      },
    ],
    totals: { ...zeroTotals, allow_to_deny: 3, level_up: 2, allow_to_requires_approval: 1 },
    truncated: false,
    ...overrides,
  };
}

describe("formatPlan", () => {
  it("prints the header, a row per group with an example, the totals and the skips", () => {
    expect(formatPlan(report())).toBe(
      [
        "Plan for scope acme: 2026-11-26T12:00:00.000Z to 2026-12-03T12:00:00.000Z",
        `base ${"a".repeat(64)}  bundle ${"b".repeat(64)}`,
        "12 decisions read, 9 replayed, 5 would change, 1 drifted",
        "",
        "tenant  skill       change                          count  example",
        "acme    search.web  auto-approved → denied          3      dec_00000000000000000003",
        "acme    files.read  approval level up               2      dec_00000000000000000009 (level 3 → 4)",
        "acme    email.send  auto-approved → needs approval  1      -",
        "",
        "Totals:",
        "change                          count",
        "auto-approved → denied          3",
        "auto-approved → needs approval  1",
        "approval level up               2",
        "",
        "Not replayed: overrides_used 1, no_replay_inputs 2",
        "",
      ].join("\n"),
    );
  });

  it("says when nothing changes, when the sample was limited and when the deadline cut the replay", () => {
    const text = formatPlan(
      report({
        changes: [],
        changed: 0,
        totals: zeroTotals,
        skipped: { overrides_used: 0, no_replay_inputs: 0, out_of_scope: 0 },
        sample: { limit: 4, rows: 4, limited: true },
        truncated: true,
      }),
    );
    expect(text).toContain("4 decisions read (the newest 4; the window held more)");
    expect(text).toContain("TRUNCATED: the time limit came first");
    expect(text).toContain("No decision would change.");
    expect(text).not.toContain("Totals:");
    expect(text).not.toContain("Not replayed");
  });
});
