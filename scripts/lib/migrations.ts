// Applies and rolls back the SQL migrations in migrations/.
//
// drizzle-kit generates the forward SQL and its journal (migrations/meta/_journal.json); drizzle has no
// down migrations, so each one is paired with migrations/rollback/<tag>.sql. Bookkeeping is drizzle's
// own table (drizzle.__drizzle_migrations: hash, created_at = the journal's `when`), so `drizzle-kit
// migrate` and this runner agree on what is applied. Runs take a Postgres advisory lock: two deploys
// migrating at once apply each migration once.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, "../../migrations");
const ADVISORY_LOCK_KEY = 7_305_512_001;
const STATEMENT_BREAKPOINT = "--> statement-breakpoint";

export interface Migration {
  tag: string;
  /** The journal's timestamp; drizzle stores it as created_at and orders by it. */
  createdAt: number;
  upFile: string;
  downFile: string;
}

export interface MigrationState extends Migration {
  applied: boolean;
  /** Applied, but the file no longer matches what ran. */
  changed: boolean;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const journal = JSON.parse(readFileSync(path.join(dir, "meta/_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  return journal.entries.map((entry) => ({
    tag: entry.tag,
    createdAt: entry.when,
    upFile: path.join(dir, `${entry.tag}.sql`),
    downFile: path.join(dir, "rollback", `${entry.tag}.sql`),
  }));
}

/** Every migration must have its SQL and a rollback beside it. */
export function assertMigrationFilesComplete(migrations: Migration[]): void {
  const missing = migrations.flatMap((m) => [m.upFile, m.downFile].filter((file) => !existsSync(file)));
  if (missing.length > 0) throw new Error(`missing migration files: ${missing.join(", ")}`);
}

function statements(file: string): string[] {
  return readFileSync(file, "utf8")
    .split(STATEMENT_BREAKPOINT)
    .map((statement) => statement.trim())
    .filter((statement) => statement.replace(/--.*$/gm, "").trim().length > 0);
}

async function withLockedClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET client_min_messages = warning");
    await client.query("SELECT pg_advisory_lock($1)", [ADVISORY_LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS drizzle`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
    );
    return await work(client);
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [ADVISORY_LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

/** Applied migrations: created_at (the journal's `when`) → hash of the SQL that ran. */
async function appliedMigrations(client: pg.Client): Promise<Map<number, string>> {
  const { rows } = await client.query<{ created_at: string; hash: string }>(
    "SELECT created_at, hash FROM drizzle.__drizzle_migrations",
  );
  return new Map(rows.map((row) => [Number(row.created_at), row.hash]));
}

function fileHash(file: string): string {
  return createHash("sha256").update(readFileSync(file, "utf8")).digest("hex");
}

/** An applied migration whose file changed since would leave databases silently different. */
function assertUnchanged(migrations: Migration[], applied: Map<number, string>): void {
  const changed = migrations.filter(
    (m) => applied.has(m.createdAt) && applied.get(m.createdAt) !== fileHash(m.upFile),
  );
  if (changed.length > 0) {
    throw new Error(
      `applied migrations were edited afterwards: ${changed.map((m) => m.tag).join(", ")}; ` +
        "restore them and put the change in a new migration",
    );
  }
}

export async function migrationStatus(url: string, dir = MIGRATIONS_DIR): Promise<MigrationState[]> {
  const migrations = listMigrations(dir);
  return withLockedClient(url, async (client) => {
    const applied = await appliedMigrations(client);
    return migrations.map((m) => ({
      ...m,
      applied: applied.has(m.createdAt),
      changed: applied.has(m.createdAt) && applied.get(m.createdAt) !== fileHash(m.upFile),
    }));
  });
}

/** Applies every pending migration, each in its own transaction. Returns the tags applied. */
export async function migrateUp(url: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = listMigrations(dir);
  assertMigrationFilesComplete(migrations);
  return withLockedClient(url, async (client) => {
    const applied = await appliedMigrations(client);
    assertUnchanged(migrations, applied);
    const done: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.createdAt)) continue;
      await inTransaction(client, async () => {
        for (const statement of statements(migration.upFile)) await client.query(statement);
        await client.query("INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)", [
          fileHash(migration.upFile),
          migration.createdAt,
        ]);
      });
      done.push(migration.tag);
    }
    return done;
  });
}

/** Undoes the most recently applied migration. Returns its tag, or undefined when none is applied. */
export async function rollbackLast(url: string, dir = MIGRATIONS_DIR): Promise<string | undefined> {
  const migrations = listMigrations(dir);
  return withLockedClient(url, async (client) => {
    const { rows } = await client.query<{ id: number; created_at: string }>(
      "SELECT id, created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1",
    );
    const last = rows[0];
    if (!last) return undefined;
    const migration = migrations.find((m) => m.createdAt === Number(last.created_at));
    if (!migration) {
      throw new Error(
        `the last applied migration (created_at ${last.created_at}) is not in this checkout's journal`,
      );
    }
    if (!existsSync(migration.downFile)) throw new Error(`no rollback file for ${migration.tag}`);
    await inTransaction(client, async () => {
      for (const statement of statements(migration.downFile)) await client.query(statement);
      await client.query("DELETE FROM drizzle.__drizzle_migrations WHERE id = $1", [last.id]);
    });
    return migration.tag;
  });
}

async function inTransaction(client: pg.Client, work: () => Promise<void>): Promise<void> {
  await client.query("BEGIN");
  try {
    await work();
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  }
}
