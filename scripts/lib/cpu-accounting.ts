// CPU time by process, read from /proc (Linux; elsewhere every figure is undefined): what the benchmark
// uses to say where each millisecond of a request goes when everything shares the same cores.
//
// The processes of a local stack: the bench process itself (the load generator's thread and the local
// Neon gateway), wrangler dev's Node process, its `workerd` (the worker), and the embedded Postgres
// (the postmaster and its backends, plus what exited backends used, which the kernel adds to the
// postmaster's children's time when it reaps them).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Clock ticks a second: 100 on every Linux this runs on (USER_HZ). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: string;
  parent: string;
  comm: string;
  /** utime + stime, seconds. */
  seconds: number;
  /** cutime + cstime (reaped children), seconds. */
  childrenSeconds: number;
}

function readStat(pid: string): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may hold spaces; the fields after it are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return {
      pid,
      parent: fields[1] ?? "",
      comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
      seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
      childrenSeconds: (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND,
    };
  } catch {
    return undefined; // ended meanwhile
  }
}

function allStats(): Map<string, ProcStat> | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  const stats = new Map<string, ProcStat>();
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) stats.set(pid, stat);
  }
  return stats;
}

/** `root` and every process below it. */
function descendants(stats: Map<string, ProcStat>, root: string): Set<string> {
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, { parent }] of stats)
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
  }
  return tree;
}

/**
 * CPU seconds (user + system) used so far by this process's descendants named `name` (wrangler dev's
 * `workerd`); undefined where there is no /proc.
 */
export function descendantCpuSeconds(name: string): number | undefined {
  const stats = allStats();
  if (!stats) return undefined;
  let seconds = 0;
  for (const pid of descendants(stats, String(process.pid)))
    if (stats.get(pid)?.comm === name) seconds += stats.get(pid)?.seconds ?? 0;
  return seconds;
}

/** Busy and total clock ticks of all the machine's cores so far, from /proc/stat; undefined without it. */
export function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const [, ...fields] = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/);
    const ticks = fields.map(Number);
    const total = ticks.reduce((sum, n) => sum + n, 0);
    // idle and iowait are the 4th and 5th fields.
    return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** CPU seconds so far of each part of a local stack. */
export interface StackCpu {
  /** This process: the load generator (when it runs here) and the local Neon gateway. */
  bench_process: number;
  /** wrangler dev's own Node process(es): its dev server, log forwarding. */
  wrangler: number;
  /** workerd: the worker itself. */
  workerd: number;
  /** The postmaster, its backends and whatever backends exited meanwhile. */
  postgres: number;
  /** Every core of the machine, busy time (seconds of CPU), whoever used it. */
  machine: number;
}

/** The postmaster's pid, from `postmaster.pid` in the server's data folder. */
function postmasterPid(postgresDataDir: string): string | undefined {
  try {
    return readFileSync(path.join(postgresDataDir, "postmaster.pid"), "utf8").split("\n")[0]?.trim();
  } catch {
    return undefined;
  }
}

/** A snapshot of the stack's CPU counters; undefined without /proc. */
export function stackCpu(postgresDataDir: string): StackCpu | undefined {
  const stats = allStats();
  const machine = machineTicks();
  if (!stats || !machine) return undefined;
  const self = String(process.pid);
  const postmaster = postmasterPid(postgresDataDir);
  const postgresTree = postmaster ? descendants(stats, postmaster) : new Set<string>();
  let workerd = 0;
  let wrangler = 0;
  for (const pid of descendants(stats, self)) {
    const stat = stats.get(pid);
    if (!stat || pid === self || postgresTree.has(pid)) continue;
    if (stat.comm === "workerd") workerd += stat.seconds;
    else wrangler += stat.seconds;
  }
  let postgres = 0;
  for (const pid of postgresTree) postgres += stats.get(pid)?.seconds ?? 0;
  if (postmaster) postgres += stats.get(postmaster)?.childrenSeconds ?? 0;
  return {
    bench_process: stats.get(self)?.seconds ?? 0,
    wrangler,
    workerd,
    postgres,
    machine: machine.busy / TICKS_PER_SECOND,
  };
}

/** What each part used between two snapshots. */
export function cpuSpent(before: StackCpu, after: StackCpu): StackCpu {
  return {
    bench_process: after.bench_process - before.bench_process,
    wrangler: after.wrangler - before.wrangler,
    workerd: after.workerd - before.workerd,
    postgres: after.postgres - before.postgres,
    machine: after.machine - before.machine,
  };
}
