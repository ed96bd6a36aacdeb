// Setup file (runs inside workerd before each test file): gives the file a database of its own,
// cloned from the migrated template, and drops it afterwards.
import { env as configuredEnv } from "cloudflare:workers";
import { afterAll, beforeAll, inject } from "vitest";
import { createSql } from "../../src/db/client.ts";
import { type ChainRecord, describeResult, verifyRecords } from "../../src/domain/audit-chain.ts";
import type { Bindings } from "../../src/env.ts";
import { recordingQueue } from "./queue.ts";

// The configured bindings, plus the local-only ones Env does not declare.
const env = configuredEnv as Bindings;
let databaseName: string | undefined;

function adminSql() {
  return createSql({ DATABASE_URL: inject("adminDatabaseUrl"), NEON_LOCAL_GATEWAY: env.NEON_LOCAL_GATEWAY });
}

/** postgresql:// URL of another database on the test server. */
export function databaseUrl(name: string): string {
  return inject("adminDatabaseUrl").replace(/\/postgres$/, `/${name}`);
}

beforeAll(async () => {
  const name = `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
  await adminSql().query(`CREATE DATABASE "${name}" TEMPLATE "${inject("templateDatabase")}"`);
  databaseName = name;
});

let auditChainsMayBreak = false;

/** For tamper tests: this file breaks its audit chains on purpose, so they are not verified at its end. */
export function allowBrokenAuditChains(): void {
  auditChainsMayBreak = true;
}

/**
 * Every audit chain this file's workload wrote must verify (issue 17: the chain holds after the whole
 * suite's workload). Read in one query: a file's chains are thousands of rows at most.
 */
async function expectAuditChainsIntact(name: string): Promise<void> {
  const sql = createSql({ DATABASE_URL: databaseUrl(name), NEON_LOCAL_GATEWAY: env.NEON_LOCAL_GATEWAY });
  const rows = (await sql.query(
    "SELECT chain_id, seq::int AS seq, kind, source_table, source_id, content, prev_hash, hash FROM audit_chain ORDER BY chain_id, seq",
  )) as ChainRecord[];
  const result = await verifyRecords(rows);
  if (!result.ok) {
    throw new Error(`this file's workload left a broken audit chain:\n${describeResult(result).join("\n")}`);
  }
}

afterAll(async () => {
  if (!databaseName) return;
  const name = databaseName;
  try {
    if (!auditChainsMayBreak) await expectAuditChainsIntact(name);
  } finally {
    await adminSql().query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
});

/**
 * The worker's bindings, pointed at this test file's own database.
 *
 * WEBHOOK_QUEUE defaults to a stub that keeps what it is sent to itself. The configured binding is a
 * real (miniflare) queue whose consumer is this worker's queue() called with the configured bindings,
 * whose DATABASE_URL names no database: every event a test filed would reach that consumer a few
 * seconds later, fail against the wrong database (webhook_delivery_error) and be retried, in whatever
 * test file happens to be running. Tests of delivery pass a recording queue of their own
 * (test/helpers/queue.ts) and drive the consumer themselves.
 */
export function testEnv(overrides: Partial<Bindings> = {}): Bindings {
  if (!databaseName) throw new Error("testEnv() called before the file's database was created");
  return {
    ...env,
    DATABASE_URL: databaseUrl(databaseName),
    WEBHOOK_QUEUE: recordingQueue().binding,
    // No decision-log queue: each decision is written directly, so a test can read it at once. The
    // queue path has its own tests (test/decision-log.test.ts), which pass a recording queue.
    DECISION_LOG_QUEUE: undefined as unknown as Bindings["DECISION_LOG_QUEUE"],
    ...overrides,
  };
}

/** Raw SQL on this file's database, over the same HTTP driver the worker uses. */
export function testSql() {
  return createSql(testEnv());
}

/**
 * Runs `work` while every DELETE on `table` raises (a job's failing statement), then lifts that.
 * `table` is a fixed name from the test, never input.
 */
export async function withDeletesRefused<T>(table: string, work: () => Promise<T>): Promise<T> {
  const sql = testSql();
  await sql.query(`CREATE FUNCTION refuse_delete_${table}() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION '${table} may not be deleted now'; END $$`);
  await sql.query(`CREATE TRIGGER refuse_delete BEFORE DELETE ON ${table}
    FOR EACH ROW EXECUTE FUNCTION refuse_delete_${table}()`);
  try {
    return await work();
  } finally {
    await sql.query(`DROP TRIGGER refuse_delete ON ${table}`);
    await sql.query(`DROP FUNCTION refuse_delete_${table}()`);
  }
}
