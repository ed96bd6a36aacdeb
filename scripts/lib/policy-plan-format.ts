// A plan's answer (POST /api/v1/admin/policies/bundle/plan; docs/POLICY.md, Plans) as text for a
// terminal or a pull-request comment: what was planned, the changes by tenant and skill with an example
// decision each, the totals by kind and what was not replayed. Pure: the CLI prints what it returns.
import type { ChangeKind, PlanReport } from "../../src/domain/policy-plan.ts";
import { table } from "./ops.ts";

/** How each kind of change reads; `allow` is the automatic answer, so it reads "auto-approved". */
const CHANGE_TEXT: Record<ChangeKind, string> = {
  allow_to_deny: "auto-approved → denied",
  allow_to_requires_approval: "auto-approved → needs approval",
  requires_approval_to_allow: "needs approval → auto-approved",
  requires_approval_to_deny: "needs approval → denied",
  deny_to_allow: "denied → auto-approved",
  deny_to_requires_approval: "denied → needs approval",
  level_up: "approval level up",
  level_down: "approval level down",
};

export function formatPlan(report: PlanReport): string {
  const lines: string[] = [
    `Plan for scope ${report.scope}: ${report.window.since} to ${report.window.until}`,
    `base ${report.base_sha256}  bundle ${report.bundle_sha256}`,
    `${report.sample.rows} decisions read${report.sample.limited ? ` (the newest ${report.sample.limit}; the window held more)` : ""}, ` +
      `${report.replayed} replayed, ${report.changed} would change, ${report.drifted} drifted`,
  ];
  if (report.truncated)
    lines.push("TRUNCATED: the time limit came first; the counts cover part of the window");
  lines.push("");
  if (report.changes.length === 0) lines.push("No decision would change.");
  else {
    lines.push(
      table(
        ["tenant", "skill", "change", "count", "example"],
        report.changes.map((group) => {
          const example = group.examples[0];
          const levels = example
            ? ` (level ${example.before.approval_level_required} → ${example.after.approval_level_required})`
            : "";
          return [
            group.tenant_id,
            group.skill_id,
            CHANGE_TEXT[group.change],
            group.count,
            example ? `${example.decision_id}${group.change.startsWith("level_") ? levels : ""}` : "-",
          ];
        }),
      ),
    );
  }
  const totals = Object.entries(report.totals).filter(([, count]) => count > 0);
  if (totals.length > 0) {
    lines.push("", "Totals:");
    lines.push(
      table(
        ["change", "count"],
        totals.map(([kind, count]) => [CHANGE_TEXT[kind as ChangeKind], count]),
      ),
    );
  }
  const skipped = Object.entries(report.skipped).filter(([, count]) => count > 0);
  if (skipped.length > 0) {
    lines.push("", `Not replayed: ${skipped.map(([reason, count]) => `${reason} ${count}`).join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}
