// Helpers for the few statements drizzle's builder cannot express (data-modifying CTEs): build a
// column list and values from a typed row, and read raw result rows back into typed rows.
import { getTableColumns, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";

/** `("col_a", "col_b") VALUES ($1, $2::jsonb)` for the given properties of `table`. */
export function columnsAndValues(
  table: PgTable,
  values: Record<string, unknown>,
): { columns: SQL; values: SQL } {
  const columns = getTableColumns(table);
  const names: SQL[] = [];
  const params: SQL[] = [];
  for (const [key, value] of Object.entries(values)) {
    const column = columns[key];
    if (!column || value === undefined) continue;
    names.push(sql`${sql.identifier(column.name)}`);
    if (column.columnType === "PgJsonb") params.push(sql`${JSON.stringify(value)}::jsonb`);
    else if (value instanceof Date) params.push(sql`${value.toISOString()}::timestamptz`);
    else params.push(sql`${value}`);
  }
  return { columns: sql`(${sql.join(names, sql`, `)})`, values: sql.join(params, sql`, `) };
}

/** A raw result row (SQL column names, timestamps as text) as the table's typed row. */
export function rowFromRaw<T>(table: PgTable, raw: Record<string, unknown>): T {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const value = raw[column.name];
    if (value === null || value === undefined) row[key] = value ?? null;
    else if (column.columnType === "PgTimestamp") row[key] = new Date(String(value));
    else if (column.columnType === "PgJsonb" && typeof value === "string") row[key] = JSON.parse(value);
    else if (column.dataType === "number") row[key] = Number(value);
    else row[key] = value;
  }
  return row as T;
}
