// The benchmark's load generator on a thread of its own, so its CPU time is measured apart from the
// local Neon gateway's, which runs on the bench process's main thread (process.threadCpuUsage()).
// The requests are built before the run (plain data crosses threads; closures do not).
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { runConcurrently, type Sample, timedFetch } from "./measure.ts";

export interface RequestSpec {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

interface LoadJob {
  specs: RequestSpec[];
  concurrency: number;
  /** The status every answer should have. */
  expected: number;
}

export interface LoadResult {
  samples: Sample[];
  /** Wall-clock seconds of the run. */
  seconds: number;
  /** CPU seconds (user + system) the load generator's thread used during the run. */
  cpuSeconds: number;
}

/** Sends `specs` with `concurrency` in flight on a thread of its own; answers the samples and its CPU. */
export function runOnLoadThread(
  specs: RequestSpec[],
  concurrency: number,
  expected: number,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { specs, concurrency, expected } satisfies LoadJob,
    });
    worker.once("message", (result: LoadResult) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`the load thread exited with ${code}`));
    });
  });
}

async function runJob({ specs, concurrency, expected }: LoadJob): Promise<LoadResult> {
  const samples: Sample[] = [];
  const before = process.threadCpuUsage();
  const seconds = await runConcurrently(specs.length, concurrency, async (i) => {
    const spec = specs[i] as RequestSpec;
    const { ms, ok } = await timedFetch(
      () => fetch(spec.url, { method: spec.method, headers: spec.headers, body: spec.body }),
      expected,
    );
    samples.push({ ms, ok });
  });
  const used = process.threadCpuUsage(before);
  return { samples, seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

if (!isMainThread && parentPort) parentPort.postMessage(await runJob(workerData as LoadJob));
