// Database access on the two Neon paths (DESIGN.md §2):
// - HTTP (`neon()` + drizzle neon-http) for request paths: one round trip per statement or per
//   non-interactive batch transaction, no connection to open.
// - WebSocket `Pool` (drizzle neon-serverless) only where an interactive transaction is unavoidable:
//   one pool per invocation, ended through ctx.waitUntil so the response does not wait for it.
import { type NeonQueryFunction, neon, neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle as drizzleHttp, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import { drizzle as drizzleWs, type NeonDatabase } from "drizzle-orm/neon-serverless";
import * as schema from "./schema.ts";

/** Drizzle over the HTTP driver, with the driver's query function (db/compiled.ts runs statements on it). */
export type Database = NeonHttpDatabase<typeof schema> & { $client: NeonQueryFunction<false, false> };
export type TransactionDatabase = NeonDatabase<typeof schema>;
/** The bindings the data layer reads (a subset of the worker's Env; documented in src/config.ts). */
export interface DatabaseBindings {
  DATABASE_URL?: string | undefined;
  NEON_LOCAL_GATEWAY?: string | undefined;
}

/**
 * The longest the worker waits for one database round trip (an HTTP query or batch, a WebSocket
 * connect or statement) before giving up, which the API answers as 503 database_unavailable. The
 * driver's fetch has no timeout of its own: a database that accepts connections and never answers (a
 * hung compute, a network black hole) held every request open until its client gave up. Healthy
 * statements take milliseconds (docs/PERFORMANCE.md) and a Neon compute waking from suspend well under
 * that, so 5 s fails fast without cutting off a slow but live database; it also matches the
 * Retry-After: 5 the 503 carries. A request stops at its first failed statement, so a hung database
 * costs a call about this long, not a multiple of it.
 */
export const DATABASE_TIMEOUT_MS = 5000;

/**
 * The driver's fetch, bounded by DATABASE_TIMEOUT_MS. The signal also covers reading the answer's
 * body; a caller's own signal (the health check's shorter one) still applies, whichever fires first.
 */
function fetchWithTimeout(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const timeout = AbortSignal.timeout(DATABASE_TIMEOUT_MS);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  // The global fetch, looked up per call (so a test's fetch mock or a runtime patch still applies).
  return fetch(input, { ...init, signal });
}

// Every environment, Neon or the local gateway: neonConfig is per isolate.
neonConfig.fetchFunction = fetchWithTimeout;

let configuredGateway: string | undefined;

/**
 * Points the driver at the local Neon gateway when one is configured. neonConfig is per isolate, and
 * an isolate serves one environment, so this runs once; without a gateway the driver's defaults
 * (Neon's own endpoints, TLS WebSockets) stay untouched.
 */
function useLocalGateway(gateway: string | undefined): void {
  if (!gateway || gateway === configuredGateway) return;
  const base = new URL(gateway);
  neonConfig.fetchEndpoint = `${base.origin}/sql`;
  neonConfig.wsProxy = (host, port) => `${base.host}/v1?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineConnect = false;
  neonConfig.pipelineTLS = false;
  configuredGateway = gateway;
}

/** The worker has no database configured: an operator error, answered as "database unavailable". */
export class DatabaseNotConfiguredError extends Error {
  constructor() {
    super("DATABASE_URL is not set (wrangler secret put DATABASE_URL)");
    this.name = "DatabaseNotConfiguredError";
  }
}

function connectionString(env: DatabaseBindings): string {
  if (!env.DATABASE_URL) throw new DatabaseNotConfiguredError();
  return env.DATABASE_URL;
}

/** The raw HTTP query function, for statements drizzle cannot express and for health checks. */
export function createSql(env: DatabaseBindings) {
  useLocalGateway(env.NEON_LOCAL_GATEWAY);
  return neon(connectionString(env));
}

const databases = new Map<string, Database>();

/**
 * Drizzle over the HTTP driver: the default for request paths. One instance per connection string
 * and isolate: building one walks the whole schema (drizzle's relational config), which a profile
 * showed costing more CPU per request than the rest of an evaluation; the HTTP client holds no
 * connection or other I/O object, so sharing it across requests is safe.
 */
export function createDb(env: DatabaseBindings): Database {
  const url = connectionString(env);
  let db = databases.get(url);
  if (!db) {
    db = drizzleHttp({ client: createSql(env), schema });
    // Bounded: an isolate serves one environment, but tests pass many databases through one isolate.
    if (databases.size >= 64) databases.clear();
    databases.set(url, db);
  }
  return db;
}

/**
 * Runs `work` in an interactive transaction over a WebSocket connection. Use only when a later
 * statement depends on an earlier one's result in ways one statement or one batch cannot express.
 */
export async function withInteractiveTransaction<T>(
  env: DatabaseBindings,
  ctx: { waitUntil(promise: Promise<unknown>): void },
  work: (tx: Parameters<Parameters<TransactionDatabase["transaction"]>[0]>[0]) => Promise<T>,
  onIdleError: (error: Error) => void = () => undefined,
): Promise<T> {
  useLocalGateway(env.NEON_LOCAL_GATEWAY);
  const pool = new Pool({
    connectionString: connectionString(env),
    // Bounded like the HTTP path: a connect or a statement that hangs fails the transaction.
    connectionTimeoutMillis: DATABASE_TIMEOUT_MS,
    query_timeout: DATABASE_TIMEOUT_MS,
  });
  // A connection that drops while idle (e.g. during pool.end()) is reported to the caller instead of
  // being thrown as an uncaught error; a failure during `work` still rejects the transaction.
  pool.on("error", onIdleError);
  try {
    return await drizzleWs({ client: pool, schema }).transaction(work);
  } finally {
    ctx.waitUntil(pool.end());
  }
}
