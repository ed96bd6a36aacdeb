// The approval state machine (src/domain/approvals.ts) and the webhook URL rules
// (src/domain/webhook-url.ts): pure functions, no database.
import { describe, expect, it } from "vitest";
import {
  type Action,
  ALLOWED_FROM,
  type Change,
  decide,
  isOpen,
  isSatisfied,
  planRequest as planOrRefuse,
  type Refusal,
  type RequestState,
} from "../src/domain/approvals.ts";
import type { ApprovalLevelPolicy } from "../src/domain/evaluation.ts";
import {
  APPROVAL_STATUSES,
  type ApprovalEntry,
  type ApprovalStatus,
  WEBHOOK_EVENTS,
} from "../src/domain/vocabulary.ts";
import { MAX_WEBHOOK_URL_LENGTH, webhookUrlProblem } from "../src/domain/webhook-url.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const LATER = new Date(NOW.getTime() + 60_000);
const FILED = "f".repeat(64);
const UNEDITED = { payloadHash: FILED, approvedPayloadHash: null };

function state(overrides: Partial<RequestState> = {}): RequestState {
  return {
    status: "pending",
    requiredLevel: 3,
    requiredApprovals: 1,
    currentLevel: 0,
    approvals: [],
    expiresAt: LATER,
    payloadHash: FILED,
    approvedPayloadHash: null,
    ...overrides,
  };
}

const approve = (approverId: string, level: number, notes: string | null = null): Action => ({
  kind: "approve",
  approverId,
  level,
  notes,
});
const reject = (approverId: string, level: number, notes: string | null = null): Action => ({
  kind: "reject",
  approverId,
  level,
  notes,
});

function accepted(outcome: Change | Refusal): Change {
  if ("refused" in outcome) throw new Error(`expected a change, got refusal ${JSON.stringify(outcome)}`);
  return outcome;
}

/** The state after an accepted change, as the database would hold it. */
function applied(before: RequestState, change: Change): RequestState {
  return {
    ...before,
    status: change.toStatus ?? before.status,
    approvals: change.approvals,
    currentLevel: change.currentLevel,
  };
}

const entry = (
  approverId: string,
  level: number,
  action: ApprovalEntry["action"] = "approve",
): ApprovalEntry => ({
  approver_id: approverId,
  level,
  action,
  notes: null,
  timestamp: NOW.toISOString(),
});

describe("decide: approve", () => {
  it("approves when the approver's level reaches the required level", () => {
    const change = accepted(decide(state(), approve("alice", 3, "looks fine"), NOW));
    expect(change).toEqual({
      toStatus: "approved",
      actor: "alice",
      reason: "looks fine",
      event: WEBHOOK_EVENTS.approved,
      result: "approved",
      currentLevel: 3,
      approvals: [
        {
          approver_id: "alice",
          level: 3,
          action: "approve",
          notes: "looks fine",
          timestamp: NOW.toISOString(),
        },
      ],
    });
  });

  it("names the level in the reason when no notes were given", () => {
    const change = accepted(decide(state({ requiredLevel: 2 }), approve("alice", 4), NOW));
    expect(change.toStatus).toBe("approved");
    expect(change.reason).toBe("approved at level 4");
    expect(change.currentLevel).toBe(4);
  });

  it("records an approval below the required level as a note that decides nothing (security review 6)", () => {
    const first = accepted(decide(state({ requiredLevel: 4 }), approve("alice", 3, "looks fine"), NOW));
    expect(first).toMatchObject({
      toStatus: null,
      actor: "alice",
      reason: "looks fine",
      event: WEBHOOK_EVENTS.noteAdded,
      result: "note_added",
      currentLevel: 0,
    });
    expect(first.approvals).toEqual([
      { approver_id: "alice", level: 3, action: "note", notes: "looks fine", timestamp: NOW.toISOString() },
    ]);

    // An approval at the required level approves; the note stays on the record.
    const second = accepted(decide(applied(state({ requiredLevel: 4 }), first), approve("carol", 4), NOW));
    expect(second.toStatus).toBe("approved");
    expect(second.currentLevel).toBe(4);
    expect(second.approvals.map((a) => [a.approver_id, a.action])).toEqual([
      ["alice", "note"],
      ["carol", "approve"],
    ]);
  });

  it("does not modify the state it was given", () => {
    const before = state({ requiredLevel: 4 });
    const snapshot = structuredClone(before);
    decide(before, approve("alice", 3), NOW);
    expect(before).toEqual(snapshot);
  });

  it("needs M distinct approvers when required_approvals is M", () => {
    const start = state({ requiredLevel: 3, requiredApprovals: 2 });
    const first = accepted(decide(start, approve("alice", 3), NOW));
    expect(first.toStatus).toBeNull();
    expect(first.result).toBe("approval_added");
    const one = applied(start, first);

    // The same approver again counts for nothing: refused, not a second approval.
    expect(decide(one, approve("alice", 5), NOW)).toEqual({ refused: "already_approved_by_you" });

    const second = accepted(decide(one, approve("bob", 3), NOW));
    expect(second.toStatus).toBe("approved");
    expect(second.result).toBe("approved");
    expect(second.approvals.map((a) => a.approver_id)).toEqual(["alice", "bob"]);
  });

  it("with M approvers, counts only approvers at or above the required level toward the quorum (security review 6)", () => {
    const start = state({ requiredLevel: 4, requiredApprovals: 2 });
    const one = applied(start, accepted(decide(start, approve("alice", 4), NOW)));
    // A level-1 approval no longer completes a level-4 quorum.
    const low = accepted(decide(one, approve("bob", 1), NOW));
    expect(low.toStatus).toBeNull();
    expect(low.result).toBe("note_added");
    expect(low.currentLevel).toBe(4);
    const two = accepted(decide(applied(one, low), approve("carol", 5), NOW));
    expect(two.toStatus).toBe("approved");
  });

  it("treats escalated as open: approve, reject and cancel work from it", () => {
    const escalated = state({ status: "escalated" });
    expect(isOpen("escalated")).toBe(true);
    expect(accepted(decide(escalated, approve("alice", 3), NOW)).toStatus).toBe("approved");
    expect(accepted(decide(escalated, reject("alice", 3), NOW)).toStatus).toBe("rejected");
    expect(
      accepted(decide(escalated, { kind: "cancel", actor: "agent-1", reason: null }, NOW)).toStatus,
    ).toBe("cancelled");
  });
});

describe("decide: reject", () => {
  it("rejects at or above the required level, recording the rejection as an approver entry", () => {
    const change = accepted(decide(state({ requiredLevel: 5 }), reject("bob", 5, "too expensive"), NOW));
    expect(change).toEqual({
      toStatus: "rejected",
      actor: "bob",
      reason: "too expensive",
      event: WEBHOOK_EVENTS.rejected,
      result: "rejected",
      currentLevel: 0,
      approvals: [
        {
          approver_id: "bob",
          level: 5,
          action: "reject",
          notes: "too expensive",
          timestamp: NOW.toISOString(),
        },
      ],
    });
    expect(accepted(decide(state(), reject("bob", 3), NOW)).reason).toBe("rejected");
  });

  it("does not let an approver below the required level veto: the reject is a note (security review 6)", () => {
    const change = accepted(decide(state({ requiredLevel: 4 }), reject("bob", 1, "too expensive"), NOW));
    expect(change.toStatus).toBeNull();
    expect(change.result).toBe("note_added");
    expect(change.event).toBe(WEBHOOK_EVENTS.noteAdded);
    expect(change.approvals).toEqual([
      { approver_id: "bob", level: 1, action: "note", notes: "too expensive", timestamp: NOW.toISOString() },
    ]);
  });

  it("vetoes even after approvals were added", () => {
    const start = state({ requiredLevel: 3, requiredApprovals: 3 });
    const one = applied(start, accepted(decide(start, approve("alice", 3), NOW)));
    const two = applied(one, accepted(decide(one, approve("bob", 3), NOW)));
    expect(two.status).toBe("pending");
    const veto = accepted(decide(two, reject("carol", 3), NOW));
    expect(veto.toStatus).toBe("rejected");
    expect(veto.result).toBe("rejected");
    expect(veto.currentLevel).toBe(3);
    expect(veto.approvals.map((a) => [a.approver_id, a.action])).toEqual([
      ["alice", "approve"],
      ["bob", "approve"],
      ["carol", "reject"],
    ]);
  });

  it("lets an approver who already approved change their mind and reject", () => {
    const start = state({ requiredApprovals: 2 });
    const one = applied(start, accepted(decide(start, approve("alice", 3), NOW)));
    expect(accepted(decide(one, reject("alice", 3), NOW)).toStatus).toBe("rejected");
  });
});

describe("decide: decided, expired, cancel", () => {
  const decided: ApprovalStatus[] = ["approved", "rejected", "expired", "cancelled", "auto_approved"];
  const actions: Action[] = [
    approve("alice", 5),
    reject("alice", 5),
    { kind: "cancel", actor: "agent-1", reason: null },
    { kind: "expire" },
  ];

  it.each(decided)("refuses every action on a %s request with not_open and its status", (status) => {
    expect(isOpen(status)).toBe(false);
    for (const action of actions) {
      // Even past expires_at: a decided request stays decided.
      for (const at of [NOW, new Date(LATER.getTime() + 1000)]) {
        expect(decide(state({ status }), action, at), `${action.kind} at ${at.toISOString()}`).toEqual({
          refused: "not_open",
          status,
        });
      }
    }
  });

  it("refuses approve, reject and cancel once expires_at has passed (inclusive)", () => {
    const open = state({ expiresAt: NOW });
    for (const action of actions.slice(0, 3)) {
      expect(decide(open, action, NOW), action.kind).toEqual({ refused: "expired" });
      expect(decide(open, action, new Date(NOW.getTime() + 3_600_000)), action.kind).toEqual({
        refused: "expired",
      });
    }
    // One millisecond before, the same approval is accepted.
    expect(accepted(decide(open, approve("alice", 3), new Date(NOW.getTime() - 1))).toStatus).toBe(
      "approved",
    );
  });

  it("expires only when past expires_at", () => {
    const open = state({ expiresAt: LATER, currentLevel: 2, approvals: [entry("alice", 2)] });
    expect(decide(open, { kind: "expire" }, NOW)).toEqual({ refused: "not_open", status: "pending" });
    expect(decide(open, { kind: "expire" }, new Date(LATER.getTime() - 1))).toEqual({
      refused: "not_open",
      status: "pending",
    });
    const change = accepted(decide(open, { kind: "expire" }, LATER));
    expect(change).toEqual({
      toStatus: "expired",
      actor: "system",
      reason: "expired before a decision",
      event: WEBHOOK_EVENTS.expired,
      result: "expired",
      approvals: open.approvals,
      currentLevel: 2,
    });
    expect(
      accepted(decide(state({ status: "escalated", expiresAt: NOW }), { kind: "expire" }, LATER)).toStatus,
    ).toBe("expired");
  });

  it("cancels an open request, keeping its approvals", () => {
    const open = state({ currentLevel: 2, approvals: [entry("alice", 2)] });
    const change = accepted(decide(open, { kind: "cancel", actor: "agent-1", reason: "not needed" }, NOW));
    expect(change).toEqual({
      toStatus: "cancelled",
      actor: "agent-1",
      reason: "not needed",
      event: WEBHOOK_EVENTS.cancelled,
      result: "cancelled",
      approvals: open.approvals,
      currentLevel: 2,
    });
    expect(
      accepted(decide(state(), { kind: "cancel", actor: "admin-1", reason: null }, NOW)).reason,
    ).toBeNull();
  });
});

describe("isSatisfied and ALLOWED_FROM", () => {
  it("counts only approvals at or above the required level, by distinct approvers", () => {
    const need = { requiredLevel: 3, requiredApprovals: 2, ...UNEDITED };
    expect(isSatisfied(need, [])).toBe(false);
    expect(isSatisfied(need, [entry("alice", 3)])).toBe(false);
    expect(isSatisfied(need, [entry("alice", 3), entry("alice", 3)])).toBe(false);
    expect(isSatisfied(need, [entry("alice", 3), entry("bob", 3, "reject")])).toBe(false);
    expect(isSatisfied(need, [entry("alice", 3), entry("bob", 4)])).toBe(true);
    // Below the level counts toward nothing (security review 6).
    expect(isSatisfied(need, [entry("alice", 3), entry("bob", 1)])).toBe(false);
    expect(isSatisfied(need, [entry("alice", 2), entry("bob", 2)])).toBe(false);
    expect(isSatisfied(need, [entry("alice", 3), entry("bob", 2, "note")])).toBe(false);
    // A rejection at a high level does not count as reaching the level.
    expect(
      isSatisfied({ requiredLevel: 3, requiredApprovals: 1, ...UNEDITED }, [entry("bob", 5, "reject")]),
    ).toBe(false);
    expect(isSatisfied({ requiredLevel: 3, requiredApprovals: 1, ...UNEDITED }, [entry("bob", 5)])).toBe(
      true,
    );
  });

  it("allows decisions only from open statuses, and nothing back into pending or auto_approved", () => {
    for (const status of APPROVAL_STATUSES) {
      for (const from of ALLOWED_FROM[status]) expect(isOpen(from), `${from} -> ${status}`).toBe(true);
    }
    expect(ALLOWED_FROM.pending).toEqual([]);
    expect(ALLOWED_FROM.auto_approved).toEqual([]);
    // A chain's next tier moves an escalated request to escalated again.
    expect(ALLOWED_FROM.escalated).toEqual(["pending", "escalated"]);
    expect([...ALLOWED_FROM.approved].sort()).toEqual(["escalated", "pending"]);
  });
});

describe("planRequest", () => {
  const call = {
    policyType: "cost" as const,
    skillId: "email.send",
    tenantId: "acme",
    agentId: "bot-1",
    payload: { max_tokens: 500 },
  };
  const level = (overrides: Partial<ApprovalLevelPolicy>): ApprovalLevelPolicy => ({
    id: 7,
    tenantId: null,
    agentId: null,
    skillId: null,
    approvalLevel: "agent_approve",
    autoApproveMaxCostCents: 100,
    autoApproveMaxTokens: 1000,
    escalateTo: null,
    escalationTimeoutSeconds: 300,
    requiredApprovals: 1,
    enabled: true,
    ...overrides,
  });
  const policy = (
    approvalLevels: ApprovalLevelPolicy[],
    skillCosts = [] as { skillId: string; baseCents: number; centsPer1kTokens: number }[],
  ) => ({
    version: 12,
    approvalLevels,
    skillCosts,
    capabilityRules: [],
    budgets: [],
    spend: { tenantDay: 0, tenantMonth: 0, agentDay: 0, agentMonth: 0 },
    settings: { capabilityDefaultEffect: "allow" as const, unknownSkillCostCents: 10 },
  });
  /** The plan of a call policy does not deny. */
  const planRequest = (...args: Parameters<typeof planOrRefuse>) => {
    const plan = planOrRefuse(...args);
    if ("refused" in plan) throw new Error(`unexpectedly refused: ${plan.reasons.join("; ")}`);
    return plan;
  };

  it("starts pending at agent_approve when no policy matches, with the default snapshot", () => {
    expect(planRequest(call, policy([]))).toMatchObject({
      status: "pending",
      requiredLevel: 3,
      requiredApprovals: 1,
      escalateTo: null,
      escalationTimeoutSeconds: 300,
      costCents: 10,
      tokens: 500,
      reason: "created",
      snapshot: {
        policy_version: 12,
        policy_id: null,
        approval_level: "agent_approve",
        auto_approve_max_cost_cents: 100,
        auto_approve_max_tokens: 1000,
        tokens: 500,
        decision: "requires_approval",
      },
    });
  });

  it("auto-approves under auto_approve or pre_approved within both ceilings, at the policy's own level", () => {
    for (const [name, expected] of [
      ["auto_approve", 1],
      ["pre_approved", 2],
    ] as const) {
      const plan = planRequest(call, policy([level({ tenantId: "acme", approvalLevel: name })]));
      expect(plan.status, name).toBe("auto_approved");
      expect(plan.requiredLevel, name).toBe(expected);
      expect(plan.reason).toBe(`auto-approved: ${name} policy, 10 cents and 500 tokens within its ceilings`);
    }
    // Ceilings are inclusive.
    const atCeilings = level({
      approvalLevel: "auto_approve",
      autoApproveMaxCostCents: 10,
      autoApproveMaxTokens: 500,
    });
    expect(planRequest(call, policy([atCeilings])).status).toBe("auto_approved");
  });

  it("waits for a human, at least agent_approve, over a ceiling or under a human level", () => {
    const overCost = level({ approvalLevel: "auto_approve", autoApproveMaxCostCents: 9 });
    expect(planRequest(call, policy([overCost]))).toMatchObject({
      status: "pending",
      requiredLevel: 3,
      reason: "created",
    });
    const overTokens = level({ approvalLevel: "pre_approved", autoApproveMaxTokens: 499 });
    expect(planRequest(call, policy([overTokens]))).toMatchObject({ status: "pending", requiredLevel: 3 });
    const costly = planRequest(
      call,
      policy(
        [level({ approvalLevel: "auto_approve" })],
        [{ skillId: "email.send", baseCents: 50, centsPer1kTokens: 200 }],
      ),
    );
    expect(costly).toMatchObject({ status: "pending", costCents: 150, requiredLevel: 3 });
    expect(planRequest(call, policy([level({ approvalLevel: "owner_override" })])).requiredLevel).toBe(5);
    // An unknown level name (hand-written SQL) is the strictest, never guessed.
    expect(planRequest(call, policy([level({ approvalLevel: "whatever" })]))).toMatchObject({
      status: "pending",
      requiredLevel: 5,
    });
  });

  it("takes the most specific enabled policy's approvals, escalation and id", () => {
    const plan = planRequest(
      call,
      policy([
        level({ id: 1, approvalLevel: "auto_approve" }),
        level({
          id: 2,
          tenantId: "acme",
          skillId: "email.send",
          approvalLevel: "manual_approve",
          requiredApprovals: 2,
          escalateTo: "oncall",
          escalationTimeoutSeconds: 60,
        }),
        level({
          id: 3,
          tenantId: "acme",
          agentId: "bot-1",
          skillId: "email.send",
          approvalLevel: "auto_approve",
          enabled: false,
        }),
        level({
          id: 4,
          tenantId: "other",
          skillId: "email.send",
          agentId: "bot-1",
          approvalLevel: "auto_approve",
        }),
      ]),
    );
    expect(plan).toMatchObject({
      status: "pending",
      requiredLevel: 4,
      requiredApprovals: 2,
      escalateTo: "oncall",
      escalationTimeoutSeconds: 60,
    });
    expect(plan.snapshot).toMatchObject({ policy_id: 2, approval_level: "manual_approve" });
  });
});

describe("webhookUrlProblem", () => {
  const refused: [string, RegExp][] = [
    ["ftp://example.com/hook", /https/],
    ["http://example.com/hook", /plain http/],
    ["https://user:pass@example.com/hook", /credentials/],
    ["https://user@example.com/hook", /credentials/],
    ["https://example.com/hook#frag", /fragment/],
    ["https://localhost/hook", /private or local/],
    ["https://LOCALHOST:8443/hook", /private or local/],
    ["https://api.localhost/hook", /private or local/],
    ["https://printer.local/hook", /private or local/],
    ["https://metadata.internal/hook", /private or local/],
    ["https://10.0.0.1/hook", /private or local/],
    ["https://127.0.0.1/hook", /private or local/],
    ["https://0.0.0.0/hook", /private or local/],
    ["https://172.16.0.1/hook", /private or local/],
    ["https://172.31.255.255/hook", /private or local/],
    ["https://192.168.1.1/hook", /private or local/],
    ["https://169.254.169.254/latest", /private or local/],
    ["https://100.64.0.1/hook", /private or local/],
    // The URL parser normalises other spellings of loopback before the check.
    ["https://2130706433/hook", /private or local/],
    ["https://0x7f.0.0.1/hook", /private or local/],
    ["https://127.1/hook", /private or local/],
    ["https://[::1]/hook", /private or local/],
    ["https://[0:0:0:0:0:0:0:1]/hook", /private or local/],
    ["https://[::]/hook", /private or local/],
    ["https://[fd00::1]/hook", /private or local/],
    ["https://[fe80::1]/hook", /private or local/],
    ["https://[::ffff:10.0.0.1]/hook", /private or local/],
    ["not a url", /valid URL/],
    ["/relative/path", /valid URL/],
    [`https://example.com/${"a".repeat(MAX_WEBHOOK_URL_LENGTH)}`, /at most 2048/],
  ];

  it.each(refused)("refuses %s", (url, reason) => {
    expect(webhookUrlProblem(url, false)).toMatch(reason);
  });

  it.each([
    "https://example.com/hook",
    "https://hooks.example.com:8443/a/b?c=d",
    "https://8.8.8.8/hook",
    "https://172.15.0.1/hook",
    "https://172.32.0.1/hook",
    "https://192.169.0.1/hook",
    "https://[2606:4700:4700::1111]/hook",
    "https://localhost.example.com/hook",
  ])("allows %s", (url) => {
    expect(webhookUrlProblem(url, false)).toBeUndefined();
  });

  it("allows plain http and private hosts only when insecure webhooks are allowed", () => {
    for (const url of ["http://localhost:9999/hook", "http://127.0.0.1:8787/x", "https://10.0.0.1/hook"]) {
      expect(webhookUrlProblem(url, false), url).toBeDefined();
      expect(webhookUrlProblem(url, true), url).toBeUndefined();
    }
  });

  it("keeps refusing other schemes, credentials, fragments and overlong URLs even when insecure is allowed", () => {
    expect(webhookUrlProblem("ftp://localhost/hook", true)).toMatch(/https/);
    expect(webhookUrlProblem("file:///etc/passwd", true)).toMatch(/https/);
    expect(webhookUrlProblem("http://user:pass@localhost:9999/", true)).toMatch(/credentials/);
    expect(webhookUrlProblem("http://localhost:9999/#x", true)).toMatch(/fragment/);
    expect(webhookUrlProblem(`http://localhost/${"a".repeat(MAX_WEBHOOK_URL_LENGTH)}`, true)).toMatch(
      /at most/,
    );
  });

  it("takes a URL of exactly the maximum length", () => {
    const base = "https://example.com/";
    const url = base + "a".repeat(MAX_WEBHOOK_URL_LENGTH - base.length);
    expect(url).toHaveLength(MAX_WEBHOOK_URL_LENGTH);
    expect(webhookUrlProblem(url, false)).toBeUndefined();
    expect(webhookUrlProblem(`${url}a`, false)).toMatch(/at most/);
  });
});

describe("webhook URLs: the gaps a review found", () => {
  it("refuses trailing-dot local names and more reserved ranges", async () => {
    const { webhookUrlProblem } = await import("../src/domain/webhook-url.ts");
    for (const url of [
      "https://localhost./x",
      "https://foo.localhost./x",
      "https://svc.internal./",
      "https://[::7f00:1]/",
      "https://[64:ff9b::a00:1]/",
      "https://198.18.0.1/",
      "https://224.0.0.1/",
      "https://[ff02::1]/",
    ]) {
      expect(webhookUrlProblem(url, false), url).toBe("must not point at a private or local address");
    }
    expect(webhookUrlProblem("https://hooks.example.com./x", false)).toBeUndefined();
  });
});
