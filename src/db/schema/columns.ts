// Column and constraint helpers shared by the table groups of the Drizzle schema (src/db/schema/*.ts).
import { sql } from "drizzle-orm";
import { timestamp } from "drizzle-orm/pg-core";

/** Every timestamp is a timestamptz read as a Date. */
export const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** `'a', 'b'` for a CHECK (... IN (...)) over one of the domain's closed vocabularies. */
export const quotedList = (values: readonly string[]) =>
  sql.raw(values.map((value) => `'${value}'`).join(", "));

/**
 * `'<regex>'` for a CHECK (... ~ ...) holding a column to one of the domain's patterns, so the database
 * and the code share one definition (JavaScript and Postgres read these simple patterns alike).
 */
export const quotedPattern = (pattern: RegExp) => {
  if (pattern.source.includes("'")) throw new Error(`pattern ${pattern.source} cannot be quoted`);
  return sql.raw(`'${pattern.source}'`);
};
