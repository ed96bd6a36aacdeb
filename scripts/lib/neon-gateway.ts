// A small local stand-in for Neon's two front doors, so the worker runs the very same
// `@neondatabase/serverless` code paths locally and in tests as it does against Neon:
//
// - HTTP query endpoint (`neonConfig.fetchEndpoint`): POST /sql with `{query, params}` or a batch
//   `{queries: [...]}` run as one transaction. Answers `{command, rowCount, rows, fields}` with values
//   as Postgres text, and errors as HTTP 400 carrying the SQLSTATE `code`, `detail`, `constraint`...
//   Served from warm node-postgres pools, one per connection string.
// - WebSocket proxy (`neonConfig.wsProxy`): /v1?address=host:port, raw Postgres wire bytes both ways.
//
// It is tooling, not product: production talks to Neon itself and never loads this file.
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import net from "node:net";
import pg from "pg";
import type { WebSocket, WebSocketServer as WebSocketServerType } from "ws";

// Loaded through createRequire so that vitest's resolve conditions (set up for workerd by the
// Cloudflare plugin) cannot hand us ws's browser stub when this runs in a globalSetup.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as {
  WebSocketServer: typeof WebSocketServerType;
};

export interface NeonGatewayOptions {
  port?: number;
  host?: string;
  /** Hosts the WebSocket proxy may connect to. Default: loopback only. */
  allowedDatabaseHosts?: string[];
  /** Largest accepted request body in bytes (Neon's own limit is in the same range). */
  maxBodyBytes?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface RunningGateway {
  host: string;
  port: number;
  /** Base URL, e.g. http://127.0.0.1:4444 */
  url: string;
  /** What reached the database through this gateway since it started (or since resetStats). */
  stats(): GatewayStats;
  resetStats(): void;
  /**
   * Calls `listener` with each statement an HTTP /sql request carries, as it arrives (before it runs),
   * until the returned function is called. Benchmarks use it to see which rows a worker has read (the
   * parameters), e.g. that every one of a thousand waits has read its request. WebSocket traffic is raw
   * wire bytes and is not seen here.
   */
  observe(listener: (statement: { query: string; params: unknown[] }) => void): () => void;
  /**
   * Fault drill: while stalled, the gateway accepts /sql requests and WebSocket connections and never
   * answers them, as a database (or Neon's proxy) that hangs would. Ending the stall drops what it
   * held (the connections are reset); later requests are served again.
   */
  stall(stalled: boolean): void;
  close(): Promise<void>;
}

/**
 * Round trips as the worker pays them on Neon: each HTTP /sql request is one, whatever it carries (a
 * batch of statements runs as one transaction in one request); each message a WebSocket client sends
 * is one (the driver writes a whole pipelined exchange at once).
 */
export interface GatewayStats {
  httpRequests: number;
  statements: number;
  websocketSessions: number;
  websocketMessages: number;
  /** Statements by their first words, to see which ones a request runs. */
  byStatement: Record<string, number>;
  /** The last full statement and parameters seen under each byStatement key (for EXPLAIN). */
  samples: Record<string, { query: string; params: unknown[] }>;
}

export const emptyStats = (): GatewayStats => ({
  httpRequests: 0,
  statements: 0,
  websocketSessions: 0,
  websocketMessages: 0,
  byStatement: {},
  samples: {},
});

interface SingleQuery {
  query: string;
  params?: unknown[];
}

interface QueryBody extends SingleQuery {
  queries?: SingleQuery[];
}

// Field names the driver copies from a 400 answer onto its NeonDbError.
const ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

// Every value leaves as the text Postgres sent; the driver parses it by dataTypeID, as with Neon.
const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value };

class GatewayError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export async function startNeonGateway(options: NeonGatewayOptions = {}): Promise<RunningGateway> {
  const host = options.host ?? "127.0.0.1";
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const allowedHosts = new Set(options.allowedDatabaseHosts ?? ["127.0.0.1", "localhost", "::1"]);
  const log = options.log ?? (() => {});
  const pools = new Map<string, pg.Pool>();
  const tcpSockets = new Set<net.Socket>();
  let stalled = false;
  /** Connections held unanswered by a stall. */
  const held = new Set<net.Socket>();
  const hold = (socket: net.Socket) => {
    held.add(socket);
    socket.once("close", () => held.delete(socket));
  };
  let stats = emptyStats();
  const observers = new Set<(statement: { query: string; params: unknown[] }) => void>();
  const countStatement = ({ query, params }: SingleQuery) => {
    for (const observer of observers) observer({ query, params: params ?? [] });
    stats.statements += 1;
    const key = query.replace(/\s+/g, " ").trim().slice(0, 60);
    stats.byStatement[key] = (stats.byStatement[key] ?? 0) + 1;
    stats.samples[key] = { query, params: params ?? [] };
  };

  function poolFor(connectionString: string): pg.Pool {
    let pool = pools.get(connectionString);
    if (!pool) {
      pool = new pg.Pool({
        connectionString,
        max: 20,
        idleTimeoutMillis: 30_000,
        connectionTimeoutMillis: 5_000,
      });
      // An idle connection dying (server restarted or stopped) must not take the gateway down.
      pool.on("error", (error) => log("pool_error", { message: error.message }));
      // So must one dying while checked out (the server stopping mid-request): pg emits 'error' on the
      // client as well as failing its query, and with no listener that was an uncaught exception that
      // ended the process hosting the gateway. The request itself still fails (503 or the SQLSTATE).
      pool.on("connect", (client) =>
        client.on("error", (error) => log("client_error", { message: error.message })),
      );
      pools.set(connectionString, pool);
    }
    return pool;
  }

  const server = http.createServer((req, res) => {
    if (stalled && req.url?.startsWith("/sql")) {
      hold(req.socket);
      return;
    }
    handleHttp(req, res).catch((error: unknown) => {
      const status = error instanceof GatewayError ? error.status : 500;
      const message = errorMessage(error);
      if (status >= 500) log("http_error", { message });
      sendJson(res, status, { message });
    });
  });

  async function handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://gateway");
    if (url.pathname === "/health") {
      sendJson(res, 200, { ok: true });
      return;
    }
    if (url.pathname !== "/sql") throw new GatewayError(404, `no such endpoint: ${url.pathname}`);
    if (req.method !== "POST") throw new GatewayError(405, "use POST");

    const connectionString = header(req, "neon-connection-string");
    if (!connectionString) throw new GatewayError(400, "missing Neon-Connection-String header");
    const body = parseBody(await readBody(req, maxBodyBytes));
    stats.httpRequests += 1;
    for (const statement of body.queries ?? [body]) countStatement(statement);
    const arrayMode = header(req, "neon-array-mode") === "true";
    // Checked before taking a connection: a bad header is the caller's error, not the database's.
    const batch = body.queries && {
      queries: body.queries,
      begin: batchBegin({
        isolation: header(req, "neon-batch-isolation-level"),
        readOnly: header(req, "neon-batch-read-only") === "true",
        deferrable: header(req, "neon-batch-deferrable") === "true",
      }),
    };
    const pool = poolFor(connectionString);

    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      // Bad credentials or an unknown database are reported like any SQL error (with a SQLSTATE).
      if (error instanceof pg.DatabaseError) {
        sendJson(res, 400, databaseErrorBody(error));
        return;
      }
      throw new GatewayError(503, `database unreachable: ${errorMessage(error)}`);
    }
    let broken: Error | undefined;
    try {
      if (batch) {
        const results = await runBatch(client, batch.queries, arrayMode, batch.begin);
        sendJson(res, 200, { results });
      } else {
        sendJson(res, 200, await runQuery(client, body, arrayMode));
      }
    } catch (error) {
      if (error instanceof pg.DatabaseError) {
        sendJson(res, 400, databaseErrorBody(error));
        return;
      }
      if (error instanceof GatewayError) throw error;
      broken = error instanceof Error ? error : new Error(String(error));
      throw new GatewayError(503, `database connection failed: ${broken.message}`);
    } finally {
      // A connection that failed below the SQL level is discarded rather than reused.
      client.release(broken);
    }
  }

  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    if (stalled) {
      hold(socket as net.Socket);
      return;
    }
    const url = new URL(req.url ?? "/", "http://gateway");
    const target = parseAddress(url.searchParams.get("address"));
    if (!["/v1", "/v2"].includes(url.pathname) || !target || !allowedHosts.has(target.host)) {
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const tcp = net.connect({ host: target.host, port: target.port });
      tcpSockets.add(tcp);
      tcp.setNoDelay(true);
      stats.websocketSessions += 1;
      ws.binaryType = "nodebuffer";
      ws.on("message", (data: Buffer) => {
        stats.websocketMessages += 1;
        tcp.write(data);
      });
      ws.on("close", () => tcp.end());
      ws.on("error", () => tcp.destroy());
      tcp.on("data", (data) => ws.send(data));
      tcp.on("close", () => {
        tcpSockets.delete(tcp);
        ws.close();
      });
      tcp.on("error", (error) => {
        log("ws_tcp_error", { message: error.message });
        ws.close(1011, "database connection failed");
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    host,
    port,
    url: `http://${host}:${port}`,
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = emptyStats();
    },
    observe(listener) {
      observers.add(listener);
      return () => {
        observers.delete(listener);
      };
    },
    stall(on) {
      stalled = on;
      if (on) return;
      for (const socket of held) socket.destroy();
      held.clear();
    },
    async close() {
      for (const socket of held) socket.destroy();
      for (const ws of wss.clients) ws.terminate();
      for (const tcp of tcpSockets) tcp.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...pools.values()].map((pool) => pool.end().catch(() => {})));
      pools.clear();
    },
  };
}

async function runQuery(client: pg.PoolClient, { query, params }: SingleQuery, arrayMode: boolean) {
  const result = await client.query({
    text: query,
    values: params ?? [],
    rowMode: "array",
    types: RAW_TEXT_TYPES,
    // Always the extended protocol, as on Neon: one statement per query, parameters bound separately.
    queryMode: "extended",
  } as pg.QueryArrayConfig);
  const fields = result.fields.map((field) => ({
    name: field.name,
    tableID: field.tableID,
    columnID: field.columnID,
    dataTypeID: field.dataTypeID,
    dataTypeSize: field.dataTypeSize,
    dataTypeModifier: field.dataTypeModifier,
    format: "text",
  }));
  const rows = arrayMode
    ? result.rows
    : result.rows.map((row) => Object.fromEntries(fields.map((field, i) => [field.name, row[i]])));
  return { command: result.command, rowCount: result.rowCount, rows, fields, rowAsArray: arrayMode };
}

function batchBegin(mode: { isolation: string | undefined; readOnly: boolean; deferrable: boolean }): string {
  const isolation = mode.isolation ? ISOLATION_LEVELS[mode.isolation] : undefined;
  if (mode.isolation && !isolation) throw new GatewayError(400, `unknown isolation level: ${mode.isolation}`);
  return [
    "BEGIN",
    isolation ? `ISOLATION LEVEL ${isolation}` : "",
    mode.readOnly ? "READ ONLY" : "",
    mode.deferrable ? "DEFERRABLE" : "",
  ]
    .filter(Boolean)
    .join(" ");
}

async function runBatch(client: pg.PoolClient, queries: SingleQuery[], arrayMode: boolean, begin: string) {
  await client.query(begin);
  try {
    const results = [];
    for (const query of queries) results.push(await runQuery(client, query, arrayMode));
    await client.query("COMMIT");
    return results;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

function parseBody(raw: string): QueryBody {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new GatewayError(400, "request body is not valid JSON");
  }
  const isQuery = (value: unknown): value is SingleQuery =>
    typeof value === "object" &&
    value !== null &&
    typeof (value as SingleQuery).query === "string" &&
    ((value as SingleQuery).params === undefined || Array.isArray((value as SingleQuery).params));
  if (typeof body === "object" && body !== null && Array.isArray((body as QueryBody).queries)) {
    const queries = (body as QueryBody).queries as unknown[];
    if (!queries.every(isQuery)) throw new GatewayError(400, "every batch entry needs a query string");
    return { query: "", queries };
  }
  if (!isQuery(body)) throw new GatewayError(400, "body must be {query, params} or {queries: [...]}");
  return body;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering and drain the rest, so the 413 reaches the client instead of a reset.
        req.removeAllListeners("data");
        req.resume();
        reject(new GatewayError(413, `request body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function databaseErrorBody(error: pg.DatabaseError): Record<string, unknown> {
  const body: Record<string, unknown> = { message: error.message };
  for (const field of ERROR_FIELDS) {
    if (error[field] !== undefined) body[field] = error[field];
  }
  return body;
}

function parseAddress(address: string | null): { host: string; port: number } | undefined {
  if (!address) return undefined;
  const separator = address.lastIndexOf(":");
  if (separator <= 0) return undefined;
  const port = Number.parseInt(address.slice(separator + 1), 10);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { host: address.slice(0, separator).replace(/^\[|\]$/g, ""), port };
}
