// The Prometheus alerting rules (monitoring/alerts.yml) and the Grafana dashboard against the metrics
// contract: the M5 alerts exist with their M5 severities, every expression reads only metrics and
// labels that GET /metrics serves, and every runbook_url lands on a heading of docs/RUNBOOK.md.
// promtool checks the rules' syntax and behaviour (`promtool check rules`, `promtool test rules`
// in .ci/run); this file checks what promtool cannot know.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { headingAnchors } from "../../scripts/lib/markdown.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const read = (file: string): string => readFileSync(path.join(ROOT, file), "utf8");

const RUNBOOK_URL_BASE = "https://github.com/your-org/policy-api/blob/main/docs/RUNBOOK.md#";

/** null: any value; a list: the only values the label takes. */
type LabelValues = readonly string[] | null;

/**
 * The contract: every series GET /metrics exports, with its labels. Alerts and the dashboard may
 * use these and nothing else. test/metrics.test.ts (the endpoint's own tests) is the other side:
 * it checks that the endpoint exports exactly these names. Change both lists together.
 */
const EXPORTED_METRICS: Record<string, { type: "counter" | "gauge"; labels: Record<string, LabelValues> }> = {
  // Counters: cumulative, from Analytics Engine.
  nova_policy_decisions_total: {
    type: "counter",
    labels: { decision: ["allow", "deny", "requires_approval"], policy_type: null },
  },
  nova_capability_violations_total: { type: "counter", labels: {} },
  nova_resource_budget_rejections_total: { type: "counter", labels: {} },
  nova_approval_requests_total: { type: "counter", labels: { status: null } },
  nova_approval_actions_total: { type: "counter", labels: { result: null } },
  nova_approval_escalations_total: { type: "counter", labels: {} },
  nova_webhook_failures_total: { type: "counter", labels: { reason: ["dead", "rejected", "refused"] } },
  nova_webhook_attempts_total: {
    type: "counter",
    labels: { outcome: ["success", "retry", "failed", "skipped", "paused"] },
  },
  nova_auth_failures_total: {
    type: "counter",
    labels: { reason: ["missing", "malformed", "unknown", "revoked", "forbidden"] },
  },
  nova_console_sign_in_failures_total: {
    type: "counter",
    labels: { reason: ["malformed", "unknown", "revoked", "agent"] },
  },
  nova_escalation_runs_total: {
    type: "counter",
    labels: { outcome: ["completed", "cut_short", "paused", "failed"] },
  },
  nova_decision_log_failures_total: { type: "counter", labels: {} },
  // Gauges: from Postgres at scrape time.
  nova_approval_requests_pending: { type: "gauge", labels: {} },
  nova_approval_requests: { type: "gauge", labels: { status: null } },
  nova_approval_oldest_pending_age_seconds: { type: "gauge", labels: {} },
  nova_webhook_deliveries: {
    type: "gauge",
    labels: { status: ["pending", "delivered", "skipped", "failed", "dead"] },
  },
  nova_escalation_paused: { type: "gauge", labels: {} },
  nova_webhook_delivery_paused: { type: "gauge", labels: {} },
  nova_database_latency_seconds: { type: "gauge", labels: {} },
  pg_stat_activity: { type: "gauge", labels: { state: null } },
  nova_metrics_counters_available: { type: "gauge", labels: {} },
};

/** Labels Prometheus itself adds to every scraped series. */
const TARGET_LABELS = ["job", "instance"];

/** The "Prometheus Alerts" table of the M5 runbook (seed/M5_POLICY_RUNBOOK.md), with its severities. */
const M5_ALERTS: Record<string, "warning" | "critical"> = {
  M5ApprovalBacklogHigh: "warning",
  M5PolicyDenyRateHigh: "warning",
  M5WebhookDeliveryFailing: "warning",
  M5CapabilityViolationSpike: "critical",
  M5BudgetRejectionSpike: "critical",
};

/** The alerts this deployment adds beside the M5 ones. */
const OWN_ALERTS = [
  "PolicyApiDatabaseConnectionsHigh",
  "PolicyApiEscalationPaused",
  "PolicyApiWebhookDeliveryPaused",
  "PolicyApiDecisionLogFailing",
  "PolicyApiCountersUnavailable",
  "PolicyApiEscalationRunsFailing",
];

// --- PromQL: the selectors of an expression -----------------------------------------------------

interface Matcher {
  label: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

interface Selector {
  metric: string;
  matchers: Matcher[];
}

interface ExpressionRefs {
  selectors: Selector[];
  /** Label names in by (...), without (...), on (...), ignoring (...), group_left/right (...). */
  groupingLabels: string[];
}

const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
]);
const GROUPING_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);

function skipString(expr: string, at: number): number {
  const quote = expr[at];
  let i = at + 1;
  while (i < expr.length && expr[i] !== quote) i += expr[i] === "\\" ? 2 : 1;
  return i + 1;
}

function readString(expr: string, at: number): { value: string; end: number } {
  const end = skipString(expr, at);
  const raw = expr.slice(at, end);
  const value = raw.startsWith("`")
    ? raw.slice(1, -1)
    : (JSON.parse(`"${raw.slice(1, -1).replace(/"/g, '\\"')}"`) as string);
  return { value, end };
}

function parseMatchers(expr: string, open: number): { matchers: Matcher[]; end: number } {
  const matchers: Matcher[] = [];
  let i = open + 1;
  const pattern = /\s*,?\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*/y;
  while (i < expr.length) {
    while (/[\s,]/.test(expr[i] ?? "")) i++;
    if (expr[i] === "}") return { matchers, end: i + 1 };
    pattern.lastIndex = i;
    const match = pattern.exec(expr);
    if (!match) throw new Error(`cannot read the label matchers at ${JSON.stringify(expr.slice(i))}`);
    const { value, end } = readString(expr, pattern.lastIndex);
    matchers.push({ label: match[1] as string, op: match[2] as Matcher["op"], value });
    i = end;
  }
  throw new Error(`unclosed { in ${expr}`);
}

/** The metric selectors and grouping labels of a PromQL expression (enough PromQL for our rules). */
function expressionRefs(expr: string): ExpressionRefs {
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] as string;
    if (c === '"' || c === "'" || c === "`") {
      i = skipString(expr, i);
    } else if (c === "[") {
      i = expr.indexOf("]", i) + 1;
      if (i === 0) throw new Error(`unclosed [ in ${expr}`);
    } else if (c === "{") {
      throw new Error(`a selector without a metric name (use the name, not __name__): ${expr}`);
    } else if (/[0-9.]/.test(c)) {
      const number = /[0-9.]+(?:e[+-]?\d+)?[a-z]*/iy;
      number.lastIndex = i;
      number.exec(expr);
      i = Math.max(number.lastIndex, i + 1);
    } else if (/[a-zA-Z_:]/.test(c)) {
      const ident = /[a-zA-Z_:][\w:]*/y;
      ident.lastIndex = i;
      const word = (ident.exec(expr) as RegExpExecArray)[0];
      i = ident.lastIndex;
      let next = i;
      while (/\s/.test(expr[next] ?? "")) next++;
      if (GROUPING_KEYWORDS.has(word) && expr[next] === "(") {
        const close = expr.indexOf(")", next);
        groupingLabels.push(
          ...expr
            .slice(next + 1, close)
            .split(",")
            .map((label) => label.trim())
            .filter(Boolean),
        );
        i = close + 1;
      } else if (
        expr[next] === "(" ||
        AGGREGATIONS.has(word) ||
        GROUPING_KEYWORDS.has(word) ||
        KEYWORDS.has(word.toLowerCase())
      ) {
        // a function call, an aggregation (its by/without follows), group_left without labels, or an operator keyword
      } else if (expr[next] === "{") {
        const { matchers, end } = parseMatchers(expr, next);
        selectors.push({ metric: word, matchers });
        i = end;
      } else {
        selectors.push({ metric: word, matchers: [] });
      }
    } else {
      i++;
    }
  }
  return { selectors, groupingLabels };
}

/** Contract problems of one expression: unknown metrics, labels, or label values. */
function contractProblems(expr: string): string[] {
  const problems: string[] = [];
  const { selectors, groupingLabels } = expressionRefs(expr);
  if (selectors.length === 0) problems.push(`no metric in ${expr}`);
  const labelsInUse = new Set(TARGET_LABELS);
  for (const { metric, matchers } of selectors) {
    const spec = EXPORTED_METRICS[metric];
    if (!spec) {
      problems.push(`${metric} is not exported by /metrics`);
      continue;
    }
    for (const label of Object.keys(spec.labels)) labelsInUse.add(label);
    for (const { label, op, value } of matchers) {
      if (TARGET_LABELS.includes(label)) continue;
      if (!(label in spec.labels)) {
        problems.push(`${metric} has no label ${label}`);
        continue;
      }
      const allowed = spec.labels[label];
      if (!allowed) continue;
      // Exact values, or a regex that is a plain alternation of values (a|b|c).
      const values =
        op === "=" || op === "!=" ? [value] : /^\w+(\|\w+)*$/.test(value) ? value.split("|") : [];
      if ((op === "=~" || op === "!~") && values.length === 0) {
        problems.push(`${metric}{${label}${op}"${value}"}: use a plain alternation of known values`);
      }
      for (const one of values) {
        if (!allowed.includes(one))
          problems.push(`${metric}{${label}="${one}"}: not one of ${allowed.join(", ")}`);
      }
    }
  }
  for (const label of groupingLabels) {
    if (!labelsInUse.has(label)) problems.push(`grouping by ${label}, which no metric of ${expr} has`);
  }
  return problems;
}

// --- the files --------------------------------------------------------------------------------------

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rulesFile = parse(read("monitoring/alerts.yml")) as { groups: { name: string; rules: Rule[] }[] };
const alerts = rulesFile.groups.flatMap((group) => group.rules.filter((rule) => rule.alert !== undefined));
const alertNamed = (name: string): Rule | undefined => alerts.find((rule) => rule.alert === name);
const runbook = read("docs/RUNBOOK.md");
const anchors = headingAnchors(runbook);

describe("monitoring/alerts.yml", () => {
  it("is one group, policy-api, of uniquely named alerts", () => {
    expect(rulesFile.groups.map((group) => group.name)).toEqual(["policy-api"]);
    const names = alerts.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it("has every alert of the M5 runbook, with its M5 severity", () => {
    for (const [name, severity] of Object.entries(M5_ALERTS)) {
      expect(alertNamed(name), name).toBeDefined();
      expect(alertNamed(name)?.labels?.severity, name).toBe(severity);
    }
  });

  it("has this deployment's alerts, and no alert this test does not know", () => {
    expect(alerts.map((rule) => rule.alert).sort()).toEqual(
      [...Object.keys(M5_ALERTS), ...OWN_ALERTS].sort(),
    );
  });

  it("gives every alert a severity, a summary, a description and a runbook_url", () => {
    for (const rule of alerts) {
      expect(["warning", "critical"], `${rule.alert} severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary?.trim(), `${rule.alert} summary`).toBeTruthy();
      expect(rule.annotations?.description?.trim(), `${rule.alert} description`).toBeTruthy();
      expect(rule.annotations?.runbook_url, `${rule.alert} runbook_url`).toMatch(/^https:\/\/\S+#\S+$/);
    }
  });

  it("points every runbook_url at an existing heading of docs/RUNBOOK.md", () => {
    for (const rule of alerts) {
      const url = rule.annotations?.runbook_url ?? "";
      expect(url.startsWith(RUNBOOK_URL_BASE), `${rule.alert}: ${url}`).toBe(true);
      expect(anchors, `${rule.alert}: ${url}`).toContain(url.slice(RUNBOOK_URL_BASE.length));
    }
  });

  it("reads only metrics and labels GET /metrics exports", () => {
    for (const rule of alerts) {
      expect(contractProblems(rule.expr), rule.alert).toEqual([]);
    }
  });

  it("is listed in the runbook's Prometheus alerts section, each row linking its runbook_url's section", () => {
    const start = runbook.indexOf("### Prometheus alerts");
    expect(start).toBeGreaterThan(-1);
    const next = runbook.slice(start + 1).search(/\n#{1,3} /);
    const section = next === -1 ? runbook.slice(start) : runbook.slice(start, start + 1 + next);
    const rows = section.split("\n").filter((line) => line.startsWith("| `"));
    const listed = rows.map((row) => /^\| `(\w+)`/.exec(row)?.[1]);
    expect(listed.sort()).toEqual(alerts.map((rule) => rule.alert).sort());
    for (const row of rows) {
      const rule = alertNamed(/^\| `(\w+)`/.exec(row)?.[1] ?? "");
      const anchor = rule?.annotations?.runbook_url?.slice(RUNBOOK_URL_BASE.length);
      expect(row, rule?.alert).toContain(`(#${anchor})`);
      expect(row, rule?.alert).toContain(`| ${rule?.labels?.severity} `);
    }
  });
});

describe("monitoring/grafana-dashboard.json", () => {
  const dashboard = JSON.parse(read("monitoring/grafana-dashboard.json")) as {
    templating: { list: { name: string; type: string; query: string }[] };
    panels: { title: string; type: string; datasource?: { uid: string }; targets?: { expr: string }[] }[];
  };

  it("takes its Prometheus data source from a template variable", () => {
    const variable = dashboard.templating.list.find((v) => v.type === "datasource");
    expect(variable?.query).toBe("prometheus");
    for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
      expect(panel.datasource?.uid, panel.title).toBe(`\${${variable?.name}}`);
    }
  });

  it("queries only metrics and labels GET /metrics exports", () => {
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(0);
    for (const expr of exprs) expect(contractProblems(expr), expr).toEqual([]);
  });
});

describe("the checks themselves", () => {
  it("finds metrics, matchers and grouping labels, not functions, keywords or durations", () => {
    expect(
      expressionRefs(
        'sum by (decision) (rate(nova_policy_decisions_total{decision=~"deny|allow", policy_type!="x"}[5m] offset 1h)) / on() group_left sum(nova_approval_requests_pending) > 1e3 and nova_escalation_paused',
      ),
    ).toEqual({
      selectors: [
        {
          metric: "nova_policy_decisions_total",
          matchers: [
            { label: "decision", op: "=~", value: "deny|allow" },
            { label: "policy_type", op: "!=", value: "x" },
          ],
        },
        { metric: "nova_approval_requests_pending", matchers: [] },
        { metric: "nova_escalation_paused", matchers: [] },
      ],
      groupingLabels: ["decision"],
    });
  });

  it("reports unknown metrics, labels and label values", () => {
    expect(contractProblems("rate(nova_webhook_failure_total[5m]) > 0")).toEqual([
      "nova_webhook_failure_total is not exported by /metrics",
    ]);
    expect(contractProblems('sum(nova_webhook_attempts_total{outcome="failure"})')).toEqual([
      'nova_webhook_attempts_total{outcome="failure"}: not one of success, retry, failed, skipped, paused',
    ]);
    expect(contractProblems('nova_approval_requests_pending{status="pending"}')).toEqual([
      "nova_approval_requests_pending has no label status",
    ]);
    expect(contractProblems("sum by (tenant) (nova_capability_violations_total)")).toEqual([
      "grouping by tenant, which no metric of sum by (tenant) (nova_capability_violations_total) has",
    ]);
  });
});
