// A throwaway copy of the whole local stack on free ports: embedded PostgreSQL in a temporary folder,
// the local Neon gateway, migrations, seed data and the development keys, and `wrangler dev` wired to
// them. Scripts that must run against the real worker without touching `npm run dev`'s data use it
// (the runbook check, benchmarks). `npm run dev` starts the same worker with the same arguments
// (wranglerDevArgs), on its fixed ports and persistent data.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ed25519Pkcs8, ensureDevKeys, vapidKeyPair } from "./dev-keys.ts";
import { DEV_NOTIFY_EMAIL_FROM } from "./dev-notifications.ts";
import { type RunningPostgres, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { ensureDatabase, LOCAL } from "./local-stack.ts";
import { migrateUp } from "./migrations.ts";
import { type RunningGateway, startNeonGateway } from "./neon-gateway.ts";
import { seedDevelopmentData } from "./seed.ts";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function wranglerBin(): string {
  return path.join(
    path.dirname(createRequire(import.meta.url).resolve("wrangler/package.json")),
    "bin/wrangler.js",
  );
}

/** Ends a child process with SIGTERM and waits for it to exit. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

export interface WranglerDevOptions {
  host: string;
  port: number;
  persistTo: string;
  /** Set when the worker talks to the local gateway (embedded Postgres), not to Neon. */
  gatewayUrl?: string | undefined;
  inspectorPort?: number;
  vars?: Record<string, string>;
  /** Serve GET /__scheduled, which runs the cron handler on demand (wrangler dev fires no crons). */
  testScheduled?: boolean;
}

/** `wrangler dev` arguments shared by `npm run dev` and the throwaway stack. */
export function wranglerDevArgs(options: WranglerDevOptions): string[] {
  const args = [
    wranglerBin(),
    "dev",
    "--ip",
    options.host,
    "--port",
    String(options.port),
    "--persist-to",
    options.persistTo,
  ];
  if (options.inspectorPort !== undefined) args.push("--inspector-port", String(options.inspectorPort));
  if (options.testScheduled) args.push("--test-scheduled");
  // Local only: webhooks may go to http://localhost receivers.
  if (options.gatewayUrl)
    args.push("--var", `NEON_LOCAL_GATEWAY:${options.gatewayUrl}`, "--var", "ALLOW_INSECURE_WEBHOOKS:true");
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push("--var", `${name}:${value}`);
  return args;
}

/**
 * The environment `wrangler dev` gets: secrets travel here (wrangler reads the names in [secrets]
 * required), never on the command line where `ps` would show them.
 */
export function wranglerDevEnv(secrets: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...secrets,
    CLOUDFLARE_INCLUDE_PROCESS_ENV: "true",
    WRANGLER_SEND_METRICS: "false",
  };
}

export interface Stack {
  /** Base URL of the worker, e.g. http://127.0.0.1:41234 */
  api: string;
  apiPort: number;
  /** The stack's database (named like the dev one, `policy`). */
  databaseUrl: string;
  postgresPort: number;
  /** The stack's own PostgreSQL server: halt() and restart() it to drill an outage. */
  postgres: RunningPostgres;
  /** Its data folder (postmaster.pid: the server's process, for CPU accounting). */
  postgresDataDir: string;
  /** The development keys (admin level 5, approver level 4, agent for tenant demo). */
  keys: Record<string, string>;
  metricsToken: string;
  /** Folder holding dev-keys.json and wrangler's state. */
  dataDir: string;
  /** Every line the worker (and wrangler) printed so far. */
  output: string[];
  /** The local Neon gateway the worker reaches the database through (round-trip counts). */
  gateway: RunningGateway;
  /** wrangler dev's DevTools inspector port (CPU profiles of the worker). */
  inspectorPort: number;
  stop(): Promise<void>;
}

/** Waits until the worker answers /health with 200 (the database reachable), or throws. */
export async function waitForHealth(api: string, wrangler: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (wrangler.exitCode !== null)
      throw new Error(`wrangler dev exited (${wrangler.exitCode}) before serving`);
    try {
      const res = await fetch(`${api}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not answer /health within ${timeoutMs} ms`);
}

export async function startStack(
  options: {
    vars?: Record<string, string>;
    log?: (line: string) => void;
    /** Let callers run the cron handler with GET /__scheduled. */
    testScheduled?: boolean;
    /** More Postgres server settings (the benchmark loads pg_stat_statements). */
    postgresSettings?: Record<string, string>;
  } = {},
): Promise<Stack> {
  const log = options.log ?? (() => {});
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "policy-api-stack-"));
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    cleanups.length = 0;
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const postgresPort = await freePort();
    const postgres = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, "postgres"),
      port: postgresPort,
      persistent: false,
      settings: options.postgresSettings,
    });
    cleanups.push(() => postgres.stop());
    await ensureDatabase(postgres.url("postgres"), LOCAL.database);
    const databaseUrl = postgres.url(LOCAL.database);
    await migrateUp(databaseUrl);
    await seedDevelopmentData(databaseUrl);
    const keys = await ensureDevKeys(databaseUrl, dataDir);
    const gateway = await startNeonGateway({ port: await freePort() });
    cleanups.push(() => gateway.close());

    const apiPort = await freePort();
    const inspectorPort = await freePort();
    const api = `http://127.0.0.1:${apiPort}`;
    const metricsToken = `stack-metrics-${crypto.randomUUID()}`;
    const random = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
    const wrangler = spawn(
      process.execPath,
      wranglerDevArgs({
        host: "127.0.0.1",
        port: apiPort,
        persistTo: path.join(dataDir, "wrangler"),
        gatewayUrl: gateway.url,
        inspectorPort,
        testScheduled: options.testScheduled,
        // As `npm run dev`: email is sent (wrangler writes .eml files) and links point at this worker.
        vars: {
          METRICS_TOKEN: metricsToken,
          LOG_LEVEL: "info",
          NOTIFY_EMAIL_FROM: DEV_NOTIFY_EMAIL_FROM,
          CONSOLE_BASE_URL: api,
          ...options.vars,
        },
      }),
      {
        cwd: LOCAL.root,
        stdio: ["ignore", "pipe", "pipe"],
        env: wranglerDevEnv({
          DATABASE_URL: databaseUrl,
          WEBHOOK_ENCRYPTION_KEY: random(),
          WEBHOOK_SIGNING_SECRETS: `1:whsec_${random()}`,
          AUDIT_SIGNING_KEY: ed25519Pkcs8(),
          RECEIPT_SIGNING_KEY: ed25519Pkcs8(),
          ...vapidKeyPair(),
        }),
      },
    );
    const output: string[] = [];
    for (const stream of [wrangler.stdout, wrangler.stderr]) {
      let pending = "";
      stream?.on("data", (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          output.push(line);
          log(line);
        }
        // A long benchmark prints a line per request: keep the recent ones.
        if (output.length > 20_000) output.splice(0, output.length - 10_000);
      });
    }
    cleanups.push(() => stopChild(wrangler));
    await waitForHealth(api, wrangler, 60_000);
    return {
      api,
      apiPort,
      databaseUrl,
      postgresPort,
      postgres,
      postgresDataDir: path.join(dataDir, "postgres"),
      keys,
      metricsToken,
      dataDir,
      output,
      gateway,
      inspectorPort,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
