// CPU profiles of the worker under `wrangler dev`, through its DevTools inspector (the V8 Profiler
// domain), summarised by self time per function: where a request's CPU time goes.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire, SourceMap } from "node:module";
import path from "node:path";
import type { WebSocket as WebSocketType } from "ws";

const WebSocket = createRequire(import.meta.url)("ws") as typeof WebSocketType;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
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

/**
 * The source map of the newest worker bundle `wrangler dev` built in `root` (.wrangler/tmp/dev-*): it
 * turns a profile's positions in the bundle into our source files and lines. Undefined when none is there.
 */
export function devBundleSourceMap(root: string): SourceMap | undefined {
  const tmp = path.join(root, ".wrangler/tmp");
  try {
    const newest = readdirSync(tmp)
      .filter((entry) => entry.startsWith("dev-"))
      .map((entry) => path.join(tmp, entry, "index.js.map"))
      .filter((file) => {
        try {
          return statSync(file).isFile();
        } catch {
          return false;
        }
      })
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    return newest ? new SourceMap(JSON.parse(readFileSync(newest, "utf8"))) : undefined;
  } catch {
    return undefined;
  }
}

/** Connects to the worker's inspector and profiles whatever `work` makes the worker do. */
export async function profileWorker(
  inspectorPort: number,
  work: () => Promise<void>,
  sourceMap?: SourceMap,
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
    return summarize(profile, sourceMap);
  } finally {
    socket.close();
  }
}

/** Where a frame is: our source file and line through the bundle's source map, else the bundle's. */
function locate(
  frame: ProfileNode["callFrame"],
  sourceMap: SourceMap | undefined,
): { file: string; line: number } {
  const bundled = frame.url.split("/").slice(-2).join("/") || "(native)";
  if (!sourceMap || !frame.url.endsWith("index.js")) return { file: bundled, line: frame.lineNumber + 1 };
  const entry = sourceMap.findEntry(frame.lineNumber, frame.columnNumber);
  if (!("originalSource" in entry) || !entry.originalSource)
    return { file: bundled, line: frame.lineNumber + 1 };
  // node_modules/<package>/… names the package; our own files keep their path from src/.
  // drizzle-orm's own maps name its sources `../src/…` from its package root, which the bundle's map
  // resolves to node_modules/src/…: they are drizzle's.
  const source = entry.originalSource
    .replace(/^.*?(node_modules\/(?:@[^/]+\/)?[^/]+|src)\//, "$1/")
    .replace(/^node_modules\/src\//, "node_modules/drizzle-orm/src/");
  return { file: source, line: entry.originalLine + 1 };
}

function summarize(profile: Profile, sourceMap?: SourceMap): ProfileSummary {
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
    const located = locate(node.callFrame, sourceMap);
    const file = located.file.startsWith("node_modules/")
      ? located.file
          .split("/")
          .slice(0, located.file.startsWith("node_modules/@") ? 3 : 2)
          .join("/")
      : located.file;
    const where = `${located.file}:${located.line}`;
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
