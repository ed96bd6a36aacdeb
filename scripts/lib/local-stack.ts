// Where the local stack lives and how scripts find the database: DATABASE_URL when set (Neon or any
// Postgres), otherwise the embedded PostgreSQL in .data/postgres, started on demand.
import path from "node:path";
import pg from "pg";
import { postgresAnswers, type RunningPostgres, startEmbeddedPostgres } from "./embedded-postgres.ts";

const root = path.resolve(import.meta.dirname, "../..");

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new Error(`${name} must be a TCP port, got "${raw}"`);
  return port;
}

export const LOCAL = {
  root,
  dataDir: path.join(root, ".data/postgres"),
  wranglerStateDir: path.join(root, ".data/wrangler"),
  host: process.env.HOST ?? "127.0.0.1",
  apiPort: portFromEnv("PORT", 8000),
  postgresPort: portFromEnv("EMBEDDED_PG_PORT", 5433),
  gatewayPort: portFromEnv("NEON_GATEWAY_PORT", 4444),
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
  return startEmbeddedPostgres({
    dataDir: LOCAL.dataDir,
    port: LOCAL.postgresPort,
    persistent: true,
    user: "postgres",
    password: "postgres",
    log,
  });
}
