// Hot statements compiled once per isolate (issue 30). Building a statement with drizzle walks every
// chunk of its SQL tree on every call; for the filing's one large statement that walk was a quarter of
// the worker's CPU per request. A compiled statement is built once per shape with placeholders
// (sql.placeholder) where the values go, turned into text and a parameter list, and each call only
// binds its values: the same text, the same parameters, the same one round trip.
//
// The shape is what changes the text (which columns are given, which optional parts are there); the
// caller names it. Values never go into the shape, so the cache stays small (bounded anyway).
import { fillPlaceholders, type SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Database } from "./client.ts";

const dialect = new PgDialect();

interface CompiledQuery {
  sql: string;
  params: unknown[];
}

/** Shapes kept per isolate; past this the cache starts again (a runaway shape key is a bug, not a leak). */
const MAX_SHAPES = 256;
const compiled = new Map<string, CompiledQuery>();

/** The compiled text and parameters of `shape`, built by `build` the first time. */
export function compile(shape: string, build: () => SQL): CompiledQuery {
  let query = compiled.get(shape);
  if (!query) {
    query = dialect.sqlToQuery(build());
    if (compiled.size >= MAX_SHAPES) compiled.clear();
    compiled.set(shape, query);
  }
  return query;
}

/**
 * Runs the statement of `shape` with `values` bound to its placeholders; answers its rows as
 * `db.execute` does (column names as written, timestamps as text). A placeholder without a value
 * throws before anything is sent.
 */
export async function executeCompiled(
  db: Database,
  shape: string,
  build: () => SQL,
  values: Record<string, unknown>,
): Promise<{ rows: Record<string, unknown>[] }> {
  const query = compile(shape, build);
  const params = fillPlaceholders(query.params, values);
  const result = await db.$client.query(query.sql, params, { arrayMode: false, fullResults: true });
  return { rows: result.rows as Record<string, unknown>[] };
}

/**
 * Runs compiled statements as one non-interactive transaction (one round trip, as `db.batch`): each
 * entry's shape and builder, and its values. Answers each statement's rows.
 */
export async function executeCompiledBatch(
  db: Database,
  statements: readonly (readonly [shape: string, build: () => SQL])[],
  values: readonly Record<string, unknown>[],
): Promise<Record<string, unknown>[][]> {
  const client = db.$client;
  const results = await client.transaction(
    statements.map(([shape, build], i) => {
      const query = compile(shape, build);
      return client.query(query.sql, fillPlaceholders(query.params, values[i] ?? {}));
    }),
    { arrayMode: false, fullResults: true },
  );
  return results.map((result) => result.rows as Record<string, unknown>[]);
}

/** The statements compiled so far in this isolate, by shape (tests check that no value was baked in). */
export function compiledQueries(): ReadonlyMap<string, { sql: string; params: readonly unknown[] }> {
  return compiled;
}
