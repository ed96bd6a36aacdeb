// Where each millisecond of a request goes (issue 30): one scenario at one concurrency, with the CPU
// time per request of every process of the local stack, and what Postgres spent on which statement.
//
// The load generator runs on a thread of its own (load-thread.ts), so the bench process's CPU splits
// into the load generator (that thread's own counter) and the local Neon gateway (the rest of the
// process: its main thread, which does nothing else during the run, and V8's helper threads). workerd,
// wrangler's Node process and Postgres are read from /proc (cpu-accounting.ts). Postgres' statements
// come from pg_stat_statements with track = all, so the statements triggers run count too, apart from
// the statement that fired them (whose time includes theirs): the audit chain's advisory lock is one
// (`SELECT pg_advisory_xact_lock(…)`, its time is the wait for the chain), its head read and insert
// others. (Function counters are not used: a backend publishes them up to ten seconds late.)
import pg from "pg";
import { cpuSpent, type StackCpu, stackCpu } from "./cpu-accounting.ts";
import { type RequestSpec, runOnLoadThread } from "./load-thread.ts";
import { type Summary, summarize } from "./measure.ts";

/** Server settings a stack needs for the statement and function figures. */
export const POSTGRES_STATS_SETTINGS: Record<string, string> = {
  shared_preload_libraries: "pg_stat_statements",
  "pg_stat_statements.track": "all",
};

export interface CpuTarget {
  databaseUrl: string;
  postgresDataDir: string;
}

export interface CpuBreakdown extends Summary {
  scenario: string;
  concurrency: number;
  /** CPU milliseconds per request, by process (undefined without /proc). */
  cpu_ms_per_request?: {
    workerd: number;
    gateway: number;
    load_generator: number;
    postgres: number;
    wrangler: number;
    /** Whatever else ran on the machine meanwhile (other sessions, the kernel's own work). */
    other: number;
    total: number;
  };
  /** Share of the machine's cores that was busy during the run, in percent. */
  machine_busy_percent?: number;
  /**
   * Postgres' statements by execution time per request (ms), heaviest first; `nested` ones ran inside
   * another (a trigger's), whose time includes theirs.
   */
  statements: {
    query: string;
    nested: boolean;
    calls_per_request: number;
    ms_per_request: number;
    mean_ms: number;
  }[];
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 1500));
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Installs pg_stat_statements in the stack's database (the server must have loaded it). */
export async function enableStatementStats(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    return true;
  } catch {
    return false;
  } finally {
    await client.end();
  }
}

async function readStatements(client: pg.Client, requests: number) {
  const { rows } = await client.query<{
    query: string;
    toplevel: boolean;
    calls: string;
    total: number;
    mean: number;
  }>(
    `SELECT query, toplevel, calls::text, total_exec_time AS total, mean_exec_time AS mean
       FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND query NOT ILIKE '%pg_stat_statements%'
      ORDER BY total_exec_time DESC LIMIT 10`,
  );
  return rows.map((row) => ({
    query: row.query.replace(/\s+/g, " ").slice(0, 120),
    nested: !row.toplevel,
    calls_per_request: round(Number(row.calls) / requests),
    ms_per_request: round(row.total / requests, 3),
    mean_ms: round(row.mean, 3),
  }));
}

/**
 * Sends `specs` at `concurrency` from the load thread and accounts for the CPU every process of the
 * stack used meanwhile, per request. Statement and function figures when pg_stat_statements is there.
 */
export async function measureCpu(
  target: CpuTarget,
  scenario: string,
  specs: RequestSpec[],
  concurrency: number,
  options: { statementStats: boolean },
): Promise<CpuBreakdown> {
  const client = new pg.Client({ connectionString: target.databaseUrl });
  await client.connect();
  try {
    if (options.statementStats) await client.query("SELECT pg_stat_statements_reset()");
    // The preparation's deferred work (waitUntil, the decision-log queue's batch) settles first, and
    // the run's own is counted: both are done within a second and a half.
    await settle();
    const before: StackCpu | undefined = stackCpu(target.postgresDataDir);
    const load = await runOnLoadThread(specs, concurrency, 200);
    const answered = stackCpu(target.postgresDataDir);
    await settle();
    const after = stackCpu(target.postgresDataDir);
    const n = specs.length;
    const perRequest = (seconds: number) => round((seconds * 1000) / n);
    let cpu: CpuBreakdown["cpu_ms_per_request"];
    let busy: number | undefined;
    if (before && after) {
      const spent = cpuSpent(before, after);
      const gateway = Math.max(0, spent.bench_process - load.cpuSeconds);
      const listed = spent.bench_process + spent.wrangler + spent.workerd + spent.postgres;
      cpu = {
        workerd: perRequest(spent.workerd),
        gateway: perRequest(gateway),
        load_generator: perRequest(load.cpuSeconds),
        postgres: perRequest(spent.postgres),
        wrangler: perRequest(spent.wrangler),
        other: perRequest(Math.max(0, spent.machine - listed)),
        total: perRequest(Math.max(spent.machine, listed)),
      };
      const cores = navigator.hardwareConcurrency || 1;
      if (answered) busy = Math.round(((answered.machine - before.machine) / (load.seconds * cores)) * 100);
    }
    return {
      scenario,
      concurrency,
      ...summarize(load.samples, load.seconds),
      cpu_ms_per_request: cpu,
      machine_busy_percent: busy,
      statements: options.statementStats ? await readStatements(client, n) : [],
    };
  } finally {
    await client.end();
  }
}
