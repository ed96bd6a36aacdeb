// The waiting scenarios of `npm run bench` (issue 24), against a running stack:
//
// - wake latency: N waits (`GET /requests/{id}?wait=55`, one per pending request, all open at once on
//   N connections), then every request approved; one wake's latency is the time the waiter's answer
//   arrived minus the time its request's approve answer arrived;
// - statements per quiet wait: one `?wait=S` on a request nobody decides, and what the gateway saw
//   meanwhile (nothing else runs then);
// - the same for an events stream (`GET /requests/{id}/events`) read for S seconds, then dropped.
//
// Plain node:http with an agent per role, not fetch: the waiters' agent opens a connection per wait
// (no pool limit, no queue in the client), so N waits are N requests the worker holds at once. Before
// any approval the run checks that it is so: every connection is open, the worker has read every
// waited-on request (seen at the gateway: the statements' parameters carry the ids), none has answered,
// and at the largest N (the stack's per-key bound of open waits) one more wait is refused with 429.
import http from "node:http";
import { descendantCpuSeconds, machineTicks } from "./cpu-accounting.ts";
import { percentile, runConcurrently } from "./measure.ts";
import type { RunningGateway } from "./neon-gateway.ts";

export interface WaitBenchSetup {
  api: string;
  agentKey: string;
  approverKey: string;
  gateway: RunningGateway;
  /** Files `count` pending requests that the agent key may wait on: their ids. */
  file(count: number): Promise<string[]>;
  /** Warnings and errors the worker has logged so far, counted by message (e.g. wait_room_unavailable). */
  workerWarnings(): Record<string, number>;
  say(line: string): void;
}

interface Answer {
  status: number;
  body: string;
  /** performance.now() when the whole answer had arrived. */
  at: number;
}

/** One HTTP exchange on `agent`, the body read whole; rejects only on a transport failure. */
function exchange(
  agent: http.Agent,
  url: string,
  options: { method?: string; key: string; body?: unknown },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = http.request(
      url,
      {
        agent,
        method: options.method ?? "GET",
        headers: {
          Authorization: `Bearer ${options.key}`,
          ...(payload === undefined
            ? {}
            : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            at: performance.now(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function field(body: string, name: string): unknown {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    return parsed[name];
  } catch {
    return undefined;
  }
}

/** CPU use over a phase: wrangler dev's workerd, this process (client and gateway), the whole machine. */
function cpuMeter() {
  const workerd = descendantCpuSeconds("workerd");
  const self = process.cpuUsage();
  const machine = machineTicks();
  const started = performance.now();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const workerdNow = descendantCpuSeconds("workerd");
    const selfNow = process.cpuUsage(self);
    const machineNow = machineTicks();
    return {
      workerd_percent:
        workerd === undefined || workerdNow === undefined
          ? undefined
          : Math.round(((workerdNow - workerd) / seconds) * 100),
      bench_process_percent: Math.round(((selfNow.user + selfNow.system) / 1e6 / seconds) * 100),
      machine_percent:
        machine && machineNow
          ? Math.round(((machineNow.busy - machine.busy) / (machineNow.total - machine.total)) * 100)
          : undefined,
    };
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number) => Math.round(value * 10) / 10;

/** How the run made sure the N waits were all held before the first approval. */
export interface HeldCheck {
  /** Connections the waiters' agent had open. */
  connections: number;
  /** Waited-on requests the worker had read (their ids among the gateway's statement parameters). */
  requests_read: number;
  /** Waiters that had answered before any approval (should be none). */
  answered_early: number;
  /** Pause after the last first read, for each wait's lease and attachment to land. */
  settle_ms: number;
  /** At the stack's per-key bound: the status and limiter of one wait more (429 open_waits_per_key). */
  probe?: { status: number; limiter: unknown };
}

export interface WakeResult {
  waits: number;
  /** Waiters answered 200 with status approved. */
  approved: number;
  /** Wake latency (waiter's answer - approve's answer), ms, over the approved waiters. */
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  /** The approvals themselves: concurrency, latency, and seconds until the last waiter had its answer. */
  approvals: { concurrency: number; ok: number; p50: number; p95: number; seconds: number };
  /**
   * CPU from the first approval to the last wake: wrangler dev's workerd and this process (the load
   * generator and the gateway) in percent of one core (the worker's JavaScript runs on one thread, so
   * near 100 means requests queue for it), and the whole machine in percent of all its cores (other
   * sessions' work included).
   */
  cpu: {
    workerd_percent: number | undefined;
    bench_process_percent: number;
    machine_percent: number | undefined;
  };
  /** Seconds from the first wait sent to the last one read by the worker. */
  open_seconds: number;
  held: HeldCheck;
  /** Warnings and errors the worker logged during the run, by message (a room or gate failing shows here). */
  worker_warnings: Record<string, number>;
  /** Anything that did not go as expected, for the report. */
  problems: string[];
}

/**
 * N waits held at once, then every request approved at `approveConcurrency`. `perKeyBound` is the
 * stack's OPEN_WAITS_PER_KEY: when N reaches it, one more wait must be refused (proof the N are held).
 */
export async function measureWake(
  setup: WaitBenchSetup,
  waits: number,
  approveConcurrency: number,
  perKeyBound: number,
): Promise<WakeResult> {
  const problems: string[] = [];
  const ids = await setup.file(waits);
  const warningsBefore = setup.workerWarnings();
  // Deferred writes of the filing settle first, so they do not share the cores with the waits.
  await sleep(500);
  const pending = new Set(ids);
  const read = new Set<string>();
  const stopObserving = setup.gateway.observe(({ params }) => {
    for (const param of params) if (typeof param === "string" && pending.has(param)) read.add(param);
  });
  const waitAgent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const approveAgent = new http.Agent({ keepAlive: true, maxSockets: approveConcurrency });
  try {
    const opened = performance.now();
    let answeredEarly = 0;
    let approving = false;
    const waiters = ids.map((id) =>
      exchange(waitAgent, `${setup.api}/api/v1/policy/requests/${id}?wait=55`, { key: setup.agentKey }).then(
        (answer) => {
          if (!approving) answeredEarly += 1;
          return answer;
        },
        (error: unknown) => {
          problems.push(`a wait failed: ${error instanceof Error ? error.message : String(error)}`);
          return undefined;
        },
      ),
    );
    // Every wait has reached the worker and read its request (then it takes its lease and attaches).
    const deadline = Date.now() + 60_000 + waits * 50;
    while (read.size < waits && Date.now() < deadline && answeredEarly === 0) await sleep(20);
    const openSeconds = (performance.now() - opened) / 1000;
    if (read.size < waits) problems.push(`only ${read.size} of ${waits} waits reached the worker`);
    // Each wait takes its lease and attaches in a few ms after its read; generously more here.
    const settleMs = 250 + 2 * waits;
    await sleep(settleMs);
    const connections = Object.values(waitAgent.sockets).reduce((sum, list) => sum + (list?.length ?? 0), 0);
    if (connections !== waits) problems.push(`${connections} connections open for ${waits} waits`);
    const held: HeldCheck = {
      connections,
      requests_read: read.size,
      answered_early: answeredEarly,
      settle_ms: settleMs,
    };
    if (waits >= perKeyBound && ids[0]) {
      const probe = await exchange(approveAgent, `${setup.api}/api/v1/policy/requests/${ids[0]}?wait=1`, {
        key: setup.agentKey,
      });
      const error = field(probe.body, "error") as { details?: { limiter?: unknown } } | undefined;
      held.probe = { status: probe.status, limiter: error?.details?.limiter };
      if (probe.status !== 429 || held.probe.limiter !== "open_waits_per_key")
        problems.push(`one wait past the bound answered ${probe.status} ${String(held.probe.limiter)}`);
    }
    if (answeredEarly > 0) problems.push(`${answeredEarly} waits answered before any approval`);

    approving = true;
    const approvedAt = new Map<string, number>();
    const approvalMs: number[] = [];
    const approveStarted = performance.now();
    const meter = cpuMeter();
    await runConcurrently(ids.length, approveConcurrency, async (i) => {
      const id = ids[i] as string;
      const started = performance.now();
      const answer = await exchange(approveAgent, `${setup.api}/api/v1/policy/requests/${id}/approve`, {
        method: "POST",
        key: setup.approverKey,
        body: {},
      }).catch(() => undefined);
      if (answer?.status === 200 && field(answer.body, "status") === "approved") {
        approvedAt.set(id, answer.at);
        approvalMs.push(answer.at - started);
      } else problems.push(`approving ${id} answered ${answer?.status ?? "nothing"}`);
    });
    const answers = await Promise.all(waiters);
    // Approvals and the wakes they cause: until the last waiter has its answer.
    const approveSeconds = (performance.now() - approveStarted) / 1000;
    const cpu = meter();

    const latencies: number[] = [];
    answers.forEach((answer, i) => {
      const at = approvedAt.get(ids[i] as string);
      if (answer?.status === 200 && field(answer.body, "status") === "approved" && at !== undefined)
        latencies.push(answer.at - at);
    });
    const notApproved = waits - latencies.length;
    if (notApproved > 0) {
      const statuses = new Map<string, number>();
      for (const answer of answers) {
        const key = answer
          ? `${answer.status} ${String(field(answer.body, "status") ?? "")}`.trim()
          : "failed";
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
      problems.push(
        `${notApproved} waiters not answered approved (${[...statuses].map(([k, n]) => `${n}× ${k}`).join(", ")})`,
      );
    }
    latencies.sort((a, b) => a - b);
    approvalMs.sort((a, b) => a - b);
    return {
      waits,
      approved: latencies.length,
      p50: round(percentile(latencies, 50)),
      p95: round(percentile(latencies, 95)),
      p99: round(percentile(latencies, 99)),
      min: round(latencies[0] ?? Number.NaN),
      max: round(latencies.at(-1) ?? Number.NaN),
      approvals: {
        concurrency: approveConcurrency,
        ok: approvalMs.length,
        p50: round(percentile(approvalMs, 50)),
        p95: round(percentile(approvalMs, 95)),
        seconds: round(approveSeconds),
      },
      cpu,
      open_seconds: round(openSeconds),
      held,
      worker_warnings: Object.fromEntries(
        Object.entries(setup.workerWarnings())
          // The probe's own refusal is logged as rate_limited: expected, not a warning of the run.
          .map(([msg, n]) => {
            const expected = msg === "rate_limited" && held.probe?.status === 429 ? 1 : 0;
            return [msg, n - (warningsBefore[msg] ?? 0) - expected] as const;
          })
          .filter(([, n]) => n > 0),
      ),
      problems,
    };
  } finally {
    stopObserving();
    waitAgent.destroy();
    approveAgent.destroy();
  }
}

/** What the gateway saw during one quiet wait or stream. */
export interface QuietResult {
  /** Whether the route exists (the events stream does not before issue 24). */
  served: boolean;
  seconds: number;
  /** The wait's answer (or the stream's status line) and the request's status in it. */
  status: number;
  request_status?: unknown;
  /** For a stream: events and heartbeat comments received. */
  events?: number;
  heartbeats?: number;
  statements: number;
  round_trips: number;
  by_statement: Record<string, number>;
  /** Each statement: when (ms after the call was sent) and its first words. */
  timeline: { at_ms: number; statement: string }[];
}

/**
 * How long a quiet measurement lets deferred writes land: the filing's before it starts (so they are
 * not counted), the wait's own after it ends (so they are).
 */
const QUIET_SETTLE_MS = 1000;

/**
 * One `?wait=seconds` on a fresh pending request nobody decides, alone on the stack: the statements
 * the gateway saw from the call until a moment after its answer (deferred writes count too). The
 * request is filed just before, so the key is in the worker's cache as in an agent's file-then-wait.
 */
export async function measureQuietWait(setup: WaitBenchSetup, seconds: number): Promise<QuietResult> {
  const [id] = await setup.file(1);
  await sleep(QUIET_SETTLE_MS);
  const agent = new http.Agent({ keepAlive: false });
  const watch = watchStatements(setup.gateway);
  try {
    const answer = await exchange(agent, `${setup.api}/api/v1/policy/requests/${id}?wait=${seconds}`, {
      key: setup.agentKey,
    });
    await sleep(QUIET_SETTLE_MS);
    return {
      served: true,
      seconds,
      status: answer.status,
      request_status: field(answer.body, "status"),
      ...watch.counted(),
    };
  } finally {
    watch.stop();
    agent.destroy();
  }
}

/** One events stream on a fresh pending request, read for `seconds` and then dropped, alone on the stack. */
export async function measureQuietStream(setup: WaitBenchSetup, seconds: number): Promise<QuietResult> {
  const [id] = await setup.file(1);
  await sleep(QUIET_SETTLE_MS);
  const watch = watchStatements(setup.gateway);
  const stream = await new Promise<{ status: number; events: number; heartbeats: number }>(
    (resolve, reject) => {
      const req = http.request(`${setup.api}/api/v1/policy/requests/${id}/events`, {
        agent: false,
        headers: { Authorization: `Bearer ${setup.agentKey}`, Accept: "text/event-stream" },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          res.on("end", () => resolve({ status, events: 0, heartbeats: 0 }));
          return;
        }
        let events = 0;
        let heartbeats = 0;
        let pending = "";
        res.on("data", (chunk: Buffer) => {
          pending += chunk.toString("utf8");
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const line of lines) {
            if (line.startsWith("data:")) events += 1;
            else if (line.startsWith(":")) heartbeats += 1;
          }
        });
        // An early end (the server closed the stream) is reported as it is.
        res.on("end", () => resolve({ status, events, heartbeats }));
        setTimeout(() => {
          resolve({ status, events, heartbeats });
          req.destroy();
        }, seconds * 1000);
      });
      req.end();
    },
  );
  await sleep(QUIET_SETTLE_MS);
  const statements = watch.counted();
  watch.stop();
  return { served: stream.status !== 404, seconds, ...stream, ...statements };
}

/** Counts what the gateway sees from now on, with a timeline. */
function watchStatements(gateway: RunningGateway) {
  gateway.resetStats();
  const started = performance.now();
  const timeline: { at_ms: number; statement: string }[] = [];
  const stop = gateway.observe(({ query }) =>
    timeline.push({
      at_ms: Math.round(performance.now() - started),
      statement: query.replace(/\s+/g, " ").trim().slice(0, 60),
    }),
  );
  return {
    stop,
    counted() {
      const stats = gateway.stats();
      return {
        statements: stats.statements,
        round_trips: stats.httpRequests + stats.websocketMessages,
        by_statement: stats.byStatement,
        timeline: [...timeline],
      };
    },
  };
}

/** The wait scenarios' targets (issue 24); the misses, as sentences. */
export function waitTargetMisses(
  wakes: readonly WakeResult[],
  quiet: QuietResult | undefined,
  stream: QuietResult | undefined,
): string[] {
  const misses: string[] = [];
  for (const wake of wakes) {
    const where = `${wake.waits} waits (approvals at ${wake.approvals.concurrency})`;
    if (wake.approved < wake.waits)
      misses.push(`${where}: ${wake.approved} of ${wake.waits} waiters woke approved`);
    const bound = wake.waits >= 1000 ? 250 : wake.waits >= 100 ? 50 : undefined;
    if (bound !== undefined && !(wake.p95 <= bound))
      misses.push(`${where}: wake p95 ${wake.p95} ms (target ≤ ${bound} ms)`);
  }
  // Per 30 s of waiting: a shorter quiet wait is held to the same count, not scaled down.
  for (const [name, result] of [
    ["quiet wait", quiet],
    ["quiet events stream", stream],
  ] as const) {
    if (result?.served && result.statements > 4)
      misses.push(
        `${name} of ${result.seconds} s: ${result.statements} statements (target ≤ 4 per 30 s wait)`,
      );
  }
  return misses;
}
