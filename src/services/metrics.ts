// GET /metrics: the Prometheus scrape. Gauges come from Postgres at scrape time (one round trip);
// counters come from the Analytics Engine dataset the worker writes (src/lib/metrics.ts) through
// Cloudflare's Analytics Engine SQL API when an account id and API token are configured. Without them
// the scrape says so and still serves the gauges.
//
// Counter semantics: Analytics Engine keeps data points for three months, so a sum over everything it
// holds would shrink as old points age out, and Prometheus would read each shrink as a counter reset
// (a false spike in increase() and rate()). Each counter is therefore the sum since the start of the
// current UTC month: it only grows during the month (late points only add), and it restarts from 0 at
// the month boundary, which Prometheus handles exactly like a process restart.
import { readGauges } from "../db/metrics.ts";
import { LIMITERS } from "../domain/rate-limits.ts";
import {
  APPROVAL_STATUSES,
  ATTEMPT_OUTCOMES,
  CONTACT_CHANNELS,
  DELIVERY_STATUSES,
  POLICY_TYPES,
} from "../domain/vocabulary.ts";
import { WAIT_LIMITERS } from "../domain/wait-gate.ts";
import type { MetricFamily } from "../lib/prometheus.ts";
import type { ServiceContext } from "./context.ts";
import { ESCALATION_JOB } from "./escalation.ts";
import { WEBHOOKS_JOB } from "./webhooks/outbox.ts";

/** The counters the worker writes, with their help texts: what /metrics reads back. */
export const COUNTERS: Record<string, string> = {
  nova_policy_decisions_total: "Policy evaluations by decision and the policy type that decided",
  nova_capability_violations_total: "Evaluations denied by a capability rule",
  nova_resource_budget_rejections_total: "Evaluations over a hard budget",
  nova_approval_requests_total: "Approval requests filed, by initial status",
  nova_approval_actions_total: "Approval request transitions and approver actions, by result",
  nova_approval_escalations_total: "Escalation steps taken by the escalation job",
  nova_webhook_failures_total: "Webhook deliveries that failed for good (dead, rejected, refused)",
  nova_webhook_attempts_total: "Webhook delivery attempts by outcome",
  nova_notifications_planned_total: "Notification deliveries planned, by kind",
  nova_notification_attempts_total: "Notification delivery attempts, by channel and outcome",
  nova_notification_failures_total:
    "Notification deliveries that failed for good, by channel and reason (dead, rejected, refused)",
  nova_auth_failures_total: "Refused authentication and authorization, by reason",
  nova_console_sign_in_failures_total:
    "Refused console sign-ins, by reason (malformed, unknown, revoked, agent)",
  nova_escalation_runs_total: "Escalation job runs by outcome",
  nova_decision_log_failures_total: "Policy decisions that could not be written to the decision log",
  nova_policy_shadow_evaluations_total: "Live evaluations also judged against a shadowing candidate bundle",
  nova_policy_shadow_disagreements_total:
    "Shadow evaluations whose decision or approval level differed from the live answer, by from_decision and to_decision",
  nova_policy_shadow_failures_total:
    "Shadow evaluations that failed (the live answer stood), by stage (load, evaluate)",
  nova_http_requests_total: "HTTP requests by route pattern and status",
  nova_http_request_duration_seconds_total:
    "Seconds spent answering HTTP requests, by route pattern (divide by nova_http_requests_total for the average)",
  nova_webhook_attempt_duration_seconds_total:
    "Seconds webhook delivery attempts took, by outcome (divide by nova_webhook_attempts_total for the average)",
  nova_metrics_scrape_errors_total: "Scrapes that could not read a source",
  nova_slack_actions_total:
    "Slack interactions by outcome: decided, counted, refused (not linked, level), unverified, conflict, failed",
  nova_rate_limited_total:
    "Requests refused with 429 by a per-key rate limit or a bound on open waits, by limiter",
};

/**
 * Label sets every scrape shows, at 0 until their first event: Prometheus cannot count a series'
 * first value as an increase, so an alert on "any increase" would miss the first event otherwise.
 */
const KNOWN_SERIES: Record<string, Record<string, string>[]> = {
  nova_policy_decisions_total: ["allow", "deny", "requires_approval"].flatMap((decision) =>
    POLICY_TYPES.map((policy_type) => ({ decision, policy_type })),
  ),
  nova_capability_violations_total: [{}],
  nova_resource_budget_rejections_total: [{}],
  nova_approval_escalations_total: [{}],
  nova_decision_log_failures_total: [{}],
  nova_webhook_failures_total: ["dead", "rejected", "refused"].map((reason) => ({ reason })),
  nova_webhook_attempts_total: ATTEMPT_OUTCOMES.map((outcome) => ({ outcome })),
  nova_notification_failures_total: CONTACT_CHANNELS.flatMap((channel) =>
    ["dead", "rejected", "refused"].map((reason) => ({ channel, reason })),
  ),
  nova_rate_limited_total: [...Object.keys(LIMITERS), ...WAIT_LIMITERS].map((limiter) => ({ limiter })),
  nova_escalation_runs_total: ["completed", "cut_short", "paused", "failed"].map((outcome) => ({ outcome })),
};

const seriesKey = (labels: Record<string, string>) =>
  Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(",");

const SQL_API_TIMEOUT_MS = 5000;

/**
 * Where every counter's window begins: the start of the UTC month of `now`. One month is well inside
 * Analytics Engine's three-month retention, so no point in the window ages out before it closes.
 */
export function counterWindowStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/**
 * The Analytics Engine SQL that sums each counter series since `windowStart`. `dataset` is a plain
 * name (src/config.ts checks METRICS_DATASET), so it can stand in the statement as written.
 */
export function countersQuery(dataset: string, windowStart: Date): string {
  const literal = windowStart.toISOString().slice(0, 19).replace("T", " ");
  return `SELECT blob1 AS metric, blob2 AS labels, SUM(_sample_interval * double1) AS value FROM ${dataset} WHERE timestamp >= toDateTime('${literal}') GROUP BY metric, labels FORMAT JSON`;
}

type CounterSource = { families: MetricFamily[]; available: boolean; comment: string };

/** "key=value,key2=value2" (the data point's blob2) as labels. */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=");
    if (at > 0) labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}

async function countersFromAnalyticsEngine(ctx: ServiceContext): Promise<CounterSource> {
  const { CF_ACCOUNT_ID: accountId, CF_ANALYTICS_API_TOKEN: token } = ctx.config;
  if (!accountId || !token) {
    return {
      families: [],
      available: false,
      comment:
        "Counters (nova_*_total) are not served: set CF_ACCOUNT_ID and the CF_ANALYTICS_API_TOKEN secret to read them from Analytics Engine.",
    };
  }
  const windowStart = counterWindowStart(new Date());
  const base = ctx.config.ANALYTICS_ENGINE_SQL_URL;
  const query = countersQuery(ctx.config.METRICS_DATASET, windowStart);
  try {
    const res = await fetch(`${base}/accounts/${encodeURIComponent(accountId)}/analytics_engine/sql`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/plain" },
      body: query,
      signal: AbortSignal.timeout(SQL_API_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`Analytics Engine SQL API answered ${res.status}`);
    const answer = (await res.json()) as { data?: { metric?: unknown; labels?: unknown; value?: unknown }[] };
    const byName = new Map<string, MetricFamily>();
    for (const row of answer.data ?? []) {
      const name = String(row.metric ?? "");
      const help = COUNTERS[name];
      if (!help) continue;
      const family = byName.get(name) ?? { name, help, type: "counter" as const, samples: [] };
      family.samples.push({ labels: parseLabels(String(row.labels ?? "")), value: Number(row.value ?? 0) });
      byName.set(name, family);
    }
    for (const [name, series] of Object.entries(KNOWN_SERIES)) {
      const family = byName.get(name) ?? {
        name,
        help: COUNTERS[name] ?? name,
        type: "counter" as const,
        samples: [],
      };
      const present = new Set(family.samples.map((sample) => seriesKey(sample.labels ?? {})));
      for (const labels of series)
        if (!present.has(seriesKey(labels))) family.samples.push({ labels, value: 0 });
      byName.set(name, family);
    }
    return {
      families: [...byName.values()],
      available: true,
      comment: `Counters (nova_*_total) count from ${windowStart.toISOString()} (the start of this UTC month) and restart from 0 when a month begins.`,
    };
  } catch (error) {
    ctx.log.warn("metrics_counters_unavailable", { error });
    ctx.metrics.count("nova_metrics_scrape_errors_total", { source: "analytics_engine" });
    return {
      families: [],
      available: false,
      comment: "Counters (nova_*_total) are unavailable: the Analytics Engine SQL API did not answer.",
    };
  }
}

export interface Scrape {
  families: MetricFamily[];
  comments: string[];
}

/** Everything one scrape serves: gauges from Postgres and counters from Analytics Engine, side by side. */
export async function scrape(ctx: ServiceContext): Promise<Scrape> {
  const started = performance.now();
  const [gauges, counters] = await Promise.all([readGauges(ctx.db), countersFromAnalyticsEngine(ctx)]);
  const latencySeconds = (performance.now() - started) / 1000;
  const families: MetricFamily[] = [
    {
      name: "nova_approval_requests_pending",
      help: "Approval requests waiting for a decision (the runbook's backlog)",
      type: "gauge",
      samples: [{ value: gauges.pending }],
    },
    {
      name: "nova_approval_requests",
      help: "Approval requests by status",
      type: "gauge",
      samples: APPROVAL_STATUSES.map((status) => ({
        labels: { status },
        value: gauges.byStatus[status] ?? 0,
      })),
    },
    {
      name: "nova_approval_oldest_pending_age_seconds",
      help: "Age of the oldest pending approval request (0 when none is pending)",
      type: "gauge",
      samples: [{ value: gauges.oldestPendingAgeSeconds ?? 0 }],
    },
    {
      name: "nova_webhook_deliveries",
      help: "Webhook deliveries by status",
      type: "gauge",
      samples: DELIVERY_STATUSES.map((status) => ({
        labels: { status },
        value: gauges.deliveries[status] ?? 0,
      })),
    },
    {
      name: "nova_escalation_paused",
      help: "1 while the escalation job is paused",
      type: "gauge",
      samples: [{ value: gauges.switches[ESCALATION_JOB] ? 1 : 0 }],
    },
    {
      name: "nova_webhook_delivery_paused",
      help: "1 while webhook deliveries are paused",
      type: "gauge",
      samples: [{ value: gauges.switches[WEBHOOKS_JOB] ? 1 : 0 }],
    },
    {
      name: "nova_database_latency_seconds",
      help: "Time this scrape took to read its gauges (and counters) from the database",
      type: "gauge",
      samples: [{ value: Math.round(latencySeconds * 1e6) / 1e6 }],
    },
    {
      name: "pg_stat_activity",
      help: "Connections to this database by state (the runbook's saturation metric)",
      type: "gauge",
      samples: Object.entries(gauges.connections).map(([state, value]) => ({ labels: { state }, value })),
    },
    {
      name: "nova_metrics_counters_available",
      help: "1 when the nova_*_total counters are read from Analytics Engine, 0 when they are not configured or unavailable",
      type: "gauge",
      samples: [{ value: counters.available ? 1 : 0 }],
    },
    ...counters.families,
  ];
  return { families, comments: [counters.comment] };
}
