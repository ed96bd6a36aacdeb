// Latency and throughput measurement shared by the load test and the benchmark.

export interface Sample {
  ms: number;
  ok: boolean;
}

export interface Summary {
  n: number;
  /** Share of samples that got the expected answer, in percent. */
  success: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Requests per second over the phase's wall-clock time. */
  rps: number;
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export function summarize(samples: Sample[], seconds: number): Summary {
  const sorted = samples.map((sample) => sample.ms).sort((a, b) => a - b);
  return {
    n: samples.length,
    success: (100 * samples.filter((sample) => sample.ok).length) / Math.max(1, samples.length),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    rps: samples.length / seconds,
  };
}

/** Runs `task(i)` for i in 0..count-1 on `concurrency` workers; answers the wall-clock seconds. */
export async function runConcurrently(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

/** Times one HTTP exchange, reading the whole body; `ok` when the status is the expected one. */
export async function timedFetch(
  run: () => Promise<Response>,
  expected: number,
): Promise<Sample & { body: unknown }> {
  const started = performance.now();
  try {
    const res = await run();
    const body = await res.json().catch(() => null);
    return { ms: performance.now() - started, ok: res.status === expected, body };
  } catch {
    return { ms: performance.now() - started, ok: false, body: null };
  }
}
