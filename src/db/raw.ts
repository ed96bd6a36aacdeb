// Helpers for the few statements drizzle's builder cannot express (data-modifying CTEs): build a
// column list and values from a typed row, and read raw result rows back into typed rows.
import { getTableColumns, type Placeholder, type SQL, sql } from "drizzle-orm";
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

/** How a property's value is written: jsonb and timestamps travel as text and are cast by the statement. */
function valueSql(columnType: string, value: unknown): SQL {
  if (columnType === "PgJsonb") return sql`${value}::jsonb`;
  if (columnType === "PgTimestamp") return sql`${value}::timestamptz`;
  return sql`${value}`;
}

/** As columnsAndValues binds it: jsonb as JSON text (null too: JSON null), a Date as ISO text. */
function paramValue(columnType: string, value: unknown): unknown {
  if (columnType === "PgJsonb") return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  return value;
}

/**
 * columnsAndValues for a compiled statement (db/compiled.ts): the given properties of `values` as
 * columns with placeholders `${prefix}${property}`, the shape (which properties are given) and the
 * values to bind, converted as columnsAndValues writes them.
 */
export function columnsAndPlaceholders(
  table: PgTable,
  values: Record<string, unknown>,
  prefix: string,
): { shape: string; columns: () => { columns: SQL; values: SQL }; bound: Record<string, unknown> } {
  const columns = getTableColumns(table);
  const given: [string, string, string][] = [];
  const bound: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const column = columns[key];
    if (!column || value === undefined) continue;
    given.push([key, column.name, column.columnType]);
    bound[`${prefix}${key}`] = paramValue(column.columnType, value);
  }
  return {
    shape: given.map(([key]) => key).join(","),
    columns: () => ({
      columns: sql`(${sql.join(
        given.map(([, name]) => sql.identifier(name)),
        sql`, `,
      )})`,
      values: sql.join(
        given.map(([key, , columnType]) =>
          valueSql(columnType, sql.placeholder(`${prefix}${key}`) as Placeholder),
        ),
        sql`, `,
      ),
    }),
    bound,
  };
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
