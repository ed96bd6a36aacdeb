// CPU profiles of the worker under `wrangler dev`, through its DevTools inspector (the V8 Profiler
// domain), summarised by self time per function: where a request's CPU time goes.
import { createRequire } from "node:module";
import type { WebSocket as WebSocketType } from "ws";

const WebSocket = createRequire(import.meta.url)("ws") as typeof WebSocketType;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  /** Profiled wall time, ms. */
  duration_ms: number;
  /** Share of samples that were not idle, in percent. */
  busy_percent: number;
  /** Self time by function, heaviest first (percent of busy samples). */
  functions: { name: string; where: string; percent: number }[];
  /** Self time by source file or module (percent of busy samples). */
  files: { file: string; percent: number }[];
}

/** Connects to the worker's inspector and profiles whatever `work` makes the worker do. */
export async function profileWorker(
  inspectorPort: number,
  work: () => Promise<void>,
): Promise<ProfileSummary> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error("no inspector target");
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.on("message", (data: Buffer) => {
    const message = JSON.parse(data.toString("utf8")) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  // The inspector does not always answer (seen: after long runs under wrangler dev); never hang on it.
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method} in 60 s`)), 60_000);
      pending.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  try {
    await send("Profiler.enable");
    await send("Profiler.setSamplingInterval", { interval: 200 });
    await send("Profiler.start");
    await work();
    const { profile } = (await send("Profiler.stop")) as { profile: Profile };
    return summarize(profile);
  } finally {
    socket.close();
  }
}

function summarize(profile: Profile): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (const sample of profile.samples ?? []) self.set(sample, (self.get(sample) ?? 0) + 1);
  let busy = 0;
  let total = 0;
  const functions = new Map<string, { name: string; where: string; samples: number }>();
  const files = new Map<string, number>();
  for (const [id, samples] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += samples;
    const name = node.callFrame.functionName || "(anonymous)";
    if (name === "(idle)" || name === "(program)") continue;
    busy += samples;
    const file = node.callFrame.url.split("/").slice(-2).join("/") || "(native)";
    const where = `${file}:${node.callFrame.lineNumber + 1}`;
    const key = `${name} ${where}`;
    const entry = functions.get(key) ?? { name, where, samples: 0 };
    entry.samples += samples;
    functions.set(key, entry);
    files.set(file, (files.get(file) ?? 0) + samples);
  }
  const percent = (samples: number) => Math.round((1000 * samples) / Math.max(1, busy)) / 10;
  return {
    duration_ms: Math.round((profile.endTime - profile.startTime) / 1000),
    busy_percent: Math.round((1000 * busy) / Math.max(1, total)) / 10,
    functions: [...functions.values()]
      .sort((a, b) => b.samples - a.samples)
      .slice(0, 25)
      .map((entry) => ({ name: entry.name, where: entry.where, percent: percent(entry.samples) })),
    files: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([file, samples]) => ({ file, percent: percent(samples) })),
  };
}
