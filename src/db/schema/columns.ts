// Column and constraint helpers shared by the table groups of the Drizzle schema (src/db/schema/*.ts).
import { sql } from "drizzle-orm";
import { timestamp } from "drizzle-orm/pg-core";

/** Every timestamp is a timestamptz read as a Date. */
export const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** `'a', 'b'` for a CHECK (... IN (...)) over one of the domain's closed vocabularies. */
export const quotedList = (values: readonly string[]) =>
  sql.raw(values.map((value) => `'${value}'`).join(", "));
