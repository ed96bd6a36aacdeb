// npm run load-test -- [--concurrent 10] [--total 50] [--base http://127.0.0.1:8000]
//                        (--base defaults to $POLICY_API_URL when set)
//
// The runbook's approval load test against a running API (start it with `npm run dev`): files
// approval requests and approves each, and evaluates policy, with `--concurrent` workers until
// `--total` of each are done. Prints p50/p95/p99 and throughput per operation next to a baseline in
// the same run (GET /health: one trivial query), then checks the runbook's pass criteria (success
// >= 99 %, p95 < 500 ms): exits 0 when they hold, 1 when only the latency criterion fails, 2 when
// requests failed. Keys come from .data/dev-keys.json (written by `npm run dev`) unless --agent-key /
// --approver-key (or POLICY_AGENT_KEY / POLICY_APPROVER_KEY) are given. It acts for the demo's agents
// (bot-0 … bot-6) in --tenant (default demo). Loopback only, bounded in count.
import { readFileSync } from "node:fs";
import path from "node:path";
import { type CliSpec, parseOrExit, usageExit } from "./lib/cli.ts";
import { LOCAL } from "./lib/local-stack.ts";
import { runConcurrently, type Sample, type Summary, summarize, timedFetch } from "./lib/measure.ts";

const LOAD_TEST: CliSpec = {
  name: "npm run load-test",
  usage: `usage: npm run load-test -- [--concurrent 10] [--total 50] [--base URL] [--tenant demo]
                          [--agent-key K] [--approver-key K]
  files and approves --total requests and evaluates as many, --concurrent at a time, against a running
  API (\`npm run dev\`), then checks the runbook's criteria (success >= 99 %, p95 < 500 ms)
  --base        the API (default POLICY_API_URL, else the local stack's address); loopback only
  --agent-key, --approver-key   default POLICY_AGENT_KEY / POLICY_APPROVER_KEY, else .data/dev-keys.json
  exit 0 the criteria hold, 1 only the latency criterion fails, 2 requests failed or usage`,
};

const { values } = parseOrExit(LOAD_TEST, process.argv.slice(2), {
  concurrent: { type: "string", default: "10" },
  total: { type: "string", default: "50" },
  base: { type: "string", default: LOCAL.apiUrl },
  "agent-key": { type: "string" },
  "approver-key": { type: "string" },
  tenant: { type: "string", default: "demo" },
});

const concurrent = Number(values.concurrent);
const total = Number(values.total);
if (!Number.isInteger(concurrent) || concurrent < 1 || concurrent > 500)
  usageExit(LOAD_TEST, "--concurrent: 1..500");
if (!Number.isInteger(total) || total < 1 || total > 100_000) usageExit(LOAD_TEST, "--total: 1..100000");
const base = URL.canParse(values.base)
  ? new URL(values.base)
  : usageExit(LOAD_TEST, `--base: not a URL: ${values.base}`);
if (!["127.0.0.1", "localhost", "[::1]"].includes(base.hostname)) {
  usageExit(LOAD_TEST, "the load test only targets this machine (127.0.0.1, localhost or [::1])");
}

function devKeys(): Record<string, string> {
  try {
    return JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../.data/dev-keys.json"), "utf8"));
  } catch {
    return {};
  }
}
const keys = devKeys();
const agentKey = values["agent-key"] ?? process.env.POLICY_AGENT_KEY ?? keys.agent;
const approverKey = values["approver-key"] ?? process.env.POLICY_APPROVER_KEY ?? keys.approver;
if (!agentKey || !approverKey)
  throw new Error("no keys: run `npm run dev` first, or pass --agent-key and --approver-key");

const json = (key: string, body: unknown): RequestInit => ({
  method: "POST",
  headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

/** Runs `task` `count` times with `concurrent` workers; returns the samples of each named step. */
async function phase(count: number, task: (i: number) => Promise<Record<string, Sample>>) {
  const samples: Record<string, Sample[]> = {};
  const seconds = await runConcurrently(count, concurrent, async (i) => {
    for (const [step, sample] of Object.entries(await task(i))) {
      samples[step] = [...(samples[step] ?? []), sample];
    }
  });
  return { samples, seconds };
}

const rows: (Summary & { op: string })[] = [];
let autoApproved = 0;
/** The first failed answer of each step, shown under the table so a failing run says why. */
const firstFailure: Record<string, string> = {};
function report(op: string, samples: Sample[], seconds: number) {
  if (samples.length === 0) return; // e.g. no approvals when policy auto-approved every request
  rows.push({ op, ...summarize(samples, seconds) });
}

const url = (pathname: string) => new URL(pathname, base).toString();
const run = `${Date.now().toString(36)}`;

// One look first, so a stack that is not running is one line, not a table of failures.
await fetch(url("/health/live"));
console.log(`load test: ${total} per operation, ${concurrent} concurrent, against ${base.origin}`);

const health = await phase(total, async () => ({
  "GET /health (baseline)": await timedFetch(() => fetch(url("/health")), 200),
}));
report("GET /health (baseline)", health.samples["GET /health (baseline)"] ?? [], health.seconds);

const evals = await phase(total, async (i) => ({
  "POST /policy/eval": await timedFetch(
    () =>
      fetch(
        url("/api/v1/policy/eval"),
        json(agentKey, {
          skill_id: "load.test",
          tenant_id: values.tenant,
          agent_id: `bot-${i % 7}`,
          payload: { tokens: 200 },
        }),
      ),
    200,
  ),
}));
report("POST /policy/eval", evals.samples["POST /policy/eval"] ?? [], evals.seconds);

const lifecycle = await phase(total, async (i): Promise<Record<string, Sample>> => {
  const created = await timedFetch(
    () =>
      fetch(
        url("/api/v1/policy/requests"),
        json(agentKey, {
          policy_type: "cost",
          skill_id: "load.test",
          tenant_id: values.tenant,
          agent_id: `bot-${i % 7}`,
          payload: { run, i },
          requested_by: `bot-${i % 7}`,
        }),
      ),
    200,
  );
  const { request_id: id, status } = (created.body ?? {}) as { request_id?: string; status?: string };
  // Policy may auto-approve the request (an auto_approve level for the tenant): nothing to approve.
  if (id && status === "auto_approved") {
    autoApproved += 1;
    return { "POST /requests": created };
  }
  const approved = id
    ? await timedFetch(() => fetch(url(`/api/v1/policy/requests/${id}/approve`), json(approverKey, {})), 200)
    : { ms: 0, ok: false };
  for (const [step, sample] of [
    ["POST /requests", created],
    ["POST /requests/{id}/approve", approved],
  ] as const)
    if (!sample.ok && "body" in sample)
      firstFailure[step] ??= JSON.stringify(sample.body)?.slice(0, 300) ?? "";
  return { "POST /requests": created, "POST /requests/{id}/approve": approved };
});
report("POST /requests", lifecycle.samples["POST /requests"] ?? [], lifecycle.seconds);
report(
  "POST /requests/{id}/approve",
  lifecycle.samples["POST /requests/{id}/approve"] ?? [],
  lifecycle.seconds,
);

const pad = (text: string | number, width: number) => String(text).padStart(width);
console.log(
  `\n${"operation".padEnd(30)}${pad("n", 7)}${pad("ok %", 8)}${pad("p50 ms", 9)}${pad("p95 ms", 9)}${pad("p99 ms", 9)}${pad("max ms", 9)}${pad("req/s", 9)}`,
);
for (const row of rows) {
  console.log(
    `${row.op.padEnd(30)}${pad(row.n, 7)}${pad(row.success.toFixed(1), 8)}${pad(row.p50.toFixed(0), 9)}${pad(row.p95.toFixed(0), 9)}${pad(row.p99.toFixed(0), 9)}${pad(row.max.toFixed(0), 9)}${pad(row.rps.toFixed(1), 9)}`,
  );
}

if (autoApproved > 0)
  console.log(`${autoApproved} of ${total} requests were auto-approved by policy: nothing to approve there`);
for (const [step, body] of Object.entries(firstFailure)) console.log(`first failure of ${step}: ${body}`);

const failing = rows.filter((row) => row.success < 99 || row.p95 >= 500);
console.log(
  failing.length === 0
    ? "\nPASS: every operation succeeded >= 99 % with p95 < 500 ms (runbook criteria)"
    : `\nFAIL (runbook criteria: success >= 99 %, p95 < 500 ms): ${failing.map((row) => row.op).join(", ")}`,
);
// 2 when requests failed (a broken setup or service), 1 when only the latency criterion failed.
process.exitCode = rows.some((row) => row.success < 99) ? 2 : failing.length === 0 ? 0 : 1;
