// Where the local stack lives and how scripts find the database: DATABASE_URL when set (Neon or any
// Postgres), otherwise the embedded PostgreSQL in .data/postgres, started on demand.
//
// The addresses come from one place (issue 32): the environment variables `npm run dev` reads (PORT,
// EMBEDDED_PG_PORT, NEON_GATEWAY_PORT, HOST), else the running stack's own record of its ports, which
// `npm run dev` writes to .data/dev-stack.json while it runs, else the defaults. So a CLI finds a stack
// started on other ports without being told again.
import { readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { postgresAnswers, type RunningPostgres, startEmbeddedPostgres } from "./embedded-postgres.ts";

const root = path.resolve(import.meta.dirname, "../..");
const stackFile = path.join(root, ".data/dev-stack.json");

/** What `npm run dev` records about the stack it runs (.data/dev-stack.json). */
export interface DevStackRecord {
  pid: number;
  host: string;
  apiPort: number;
  postgresPort: number;
  gatewayPort: number;
  api: string;
}

/** The record of a running `npm run dev`, if there is one: a file left by a killed one is ignored. */
export function readDevStack(file = stackFile): DevStackRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(file, "utf8")) as DevStackRecord;
    if (!Number.isInteger(record.pid)) return undefined;
    process.kill(record.pid, 0); // throws when no such process
    return record;
  } catch {
    return undefined;
  }
}

const running = readDevStack();

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    // Read when a script starts, before any CLI's own error handling: said in one line, as they would.
    console.error(`${name} must be a TCP port (1-65535), got "${raw}": fix or unset it`);
    process.exit(2);
  }
  return port;
}

const host = process.env.HOST ?? running?.host ?? "127.0.0.1";
const apiPort = portFromEnv("PORT", running?.apiPort ?? 8000);
// A wildcard listen address is no place to send requests to.
const reachableHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;

export const LOCAL = {
  root,
  dataDir: path.join(root, ".data/postgres"),
  wranglerStateDir: path.join(root, ".data/wrangler"),
  /** Where `npm run dev` records the running stack's ports. */
  stackFile,
  /** True when the ports below came from a running `npm run dev`'s record. */
  fromStackFile: running !== undefined,
  host,
  apiPort,
  /** The API's address for clients: POLICY_API_URL when set, else the local stack's. */
  apiUrl: process.env.POLICY_API_URL || `http://${reachableHost}:${apiPort}`,
  postgresPort: portFromEnv("EMBEDDED_PG_PORT", running?.postgresPort ?? 5433),
  gatewayPort: portFromEnv("NEON_GATEWAY_PORT", running?.gatewayPort ?? 4444),
  database: "policy",
};

export interface OpenDatabase {
  url: string;
  /** Set when this process started the embedded server (and so must stop it). */
  server: RunningPostgres | undefined;
  source: "DATABASE_URL" | "embedded (already running)" | "embedded";
  close(): Promise<void>;
}

/** Creates `database` on the server behind `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (rowCount === 0) await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

export async function openDatabase(log: (line: string) => void = () => {}): Promise<OpenDatabase> {
  const configured = process.env.DATABASE_URL;
  if (configured) {
    return { url: configured, server: undefined, source: "DATABASE_URL", close: async () => {} };
  }
  const server = await startOrReuseEmbedded(log);
  const url = localUrl(LOCAL.database);
  await ensureDatabase(localUrl("postgres"), LOCAL.database);
  return {
    url,
    server,
    source: server ? "embedded" : "embedded (already running)",
    close: async () => {
      await server?.stop();
    },
  };
}

/**
 * The worker's driver speaks Neon's HTTP and WebSocket protocol, which only Neon's endpoints serve.
 * Node scripts that run worker code against any other Postgres (the embedded one, a local server,
 * another provider) go through the local Neon gateway (scripts/lib/neon-gateway.ts) instead.
 */
export function needsLocalGateway(databaseUrl: string): boolean {
  try {
    return !new URL(databaseUrl).hostname.endsWith(".neon.tech");
  } catch {
    return true;
  }
}

function localUrl(database: string): string {
  return `postgresql://postgres:postgres@127.0.0.1:${LOCAL.postgresPort}/${database}`;
}

async function startOrReuseEmbedded(log: (line: string) => void): Promise<RunningPostgres | undefined> {
  // `npm run dev` may already be running it; a second server on the same folder would refuse to start.
  if (await postgresAnswers(localUrl("postgres"))) return undefined;
  try {
    return await startEmbeddedPostgres({
      dataDir: LOCAL.dataDir,
      port: LOCAL.postgresPort,
      persistent: true,
      user: "postgres",
      password: "postgres",
      log,
    });
  } catch (error) {
    // The usual cause: `npm run dev` holds .data/postgres on another port (the folder is locked).
    const why = error instanceof Error && error.message ? `: ${error.message}` : "";
    throw new Error(
      `no Postgres at 127.0.0.1:${LOCAL.postgresPort} and the embedded one in .data/postgres did not start there${why}. Is \`npm run dev\` running on another port? Set EMBEDDED_PG_PORT (or DATABASE_URL) to it`,
      { cause: error },
    );
  }
}
