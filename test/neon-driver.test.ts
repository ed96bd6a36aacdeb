// Fidelity of the local Neon gateway, checked through the real @neondatabase/serverless driver inside
// workerd: what passes here must behave the same against Neon.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { NeonDbError } from "@neondatabase/serverless";
import { sql as drizzleSql, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb, withInteractiveTransaction } from "../src/db/client.ts";
import { sqlState, UNIQUE_VIOLATION } from "../src/db/errors.ts";
import { policyApprovalLevels } from "../src/db/schema.ts";
import { testEnv, testSql } from "./helpers/database.ts";

beforeAll(async () => {
  await testSql().query(
    `CREATE TABLE fidelity (
       id int PRIMARY KEY,
       label text UNIQUE,
       at timestamptz,
       day date,
       doc jsonb,
       plain json,
       amount numeric(12, 4),
       big bigint,
       flags boolean[],
       tags text[],
       nums int[],
       bytes bytea
     )`,
  );
});

describe("HTTP query endpoint", () => {
  it("round-trips Postgres types the way Neon does", async () => {
    const sql = testSql();
    const at = new Date("2026-11-24T10:11:12.345Z");
    await sql.query(
      `INSERT INTO fidelity (id, label, at, day, doc, plain, amount, big, flags, tags, nums, bytes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        1,
        "first",
        at,
        "2026-02-28",
        { nested: { list: [1, "two", null] }, unicode: "zoë ✓" },
        // A JS array would bind as a Postgres array literal (same on Neon): json takes a JSON string.
        JSON.stringify([1, 2]),
        "12345.6789",
        "9007199254740993",
        [true, false],
        ["a", "b,c", 'd"e'],
        [1, 2, 3],
        new Uint8Array([0, 255, 16]),
      ],
    );
    const [found] = (await sql.query("SELECT * FROM fidelity WHERE id = $1", [1])) as Record<
      string,
      unknown
    >[];
    const row = found ?? {};
    expect(row.at).toEqual(at);
    expect((row.day as Date).toISOString()).toBe("2026-02-28T00:00:00.000Z");
    expect(row.doc).toEqual({ nested: { list: [1, "two", null] }, unicode: "zoë ✓" });
    expect(row.plain).toEqual([1, 2]);
    // numeric and int8 stay strings: no silent precision loss.
    expect(row.amount).toBe("12345.6789");
    expect(row.big).toBe("9007199254740993");
    expect(row.flags).toEqual([true, false]);
    expect(row.tags).toEqual(["a", "b,c", 'd"e']);
    expect(row.nums).toEqual([1, 2, 3]);
    expect([...(row.bytes as Uint8Array)]).toEqual([0, 255, 16]);
  });

  it("returns NULLs as null, in every type", async () => {
    await testSql().query("INSERT INTO fidelity (id) VALUES (2)");
    const [row] = (await testSql().query("SELECT * FROM fidelity WHERE id = 2")) as Record<string, unknown>[];
    const { id, ...rest } = row ?? {};
    expect(id).toBe(2);
    expect(Object.values(rest).every((value) => value === null)).toBe(true);
  });

  it("answers array mode and full results like Neon", async () => {
    const sql = testSql();
    const rows = await sql.query("SELECT 1 AS one, 'x' AS ex", [], { arrayMode: true });
    expect(rows).toEqual([[1, "x"]]);
    const full = await sql.query("SELECT generate_series(1, 3) AS n", [], { fullResults: true });
    expect(full.command).toBe("SELECT");
    expect(full.rowCount).toBe(3);
    expect(full.fields.map((field) => [field.name, field.dataTypeID])).toEqual([["n", 23]]);
  });

  it("surfaces a unique violation as SQLSTATE 23505 with its constraint", async () => {
    const sql = testSql();
    await sql.query("INSERT INTO fidelity (id, label) VALUES (10, 'dup')");
    const error = await sql
      .query("INSERT INTO fidelity (id, label) VALUES (11, 'dup')")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NeonDbError);
    expect(sqlState(error)).toBe(UNIQUE_VIOLATION);
    expect((error as NeonDbError).constraint).toBe("fidelity_label_key");
    expect((error as NeonDbError).detail).toContain("(label)=(dup)");
  });

  it("reports syntax errors with their SQLSTATE and position", async () => {
    const error = (await testSql()
      .query("SELEC 1")
      .catch((e: unknown) => e)) as NeonDbError;
    expect(error.code).toBe("42601");
    expect(error.position).toBe("1");
  });

  it("runs one statement per query, as Neon's extended protocol does", async () => {
    const error = (await testSql()
      .query("SELECT 1; SELECT 2")
      .catch((e: unknown) => e)) as NeonDbError;
    expect(error.code).toBe("42601");
  });

  it("runs a batch as one transaction that rolls back whole on error", async () => {
    const sql = testSql();
    const error = await sql
      .transaction([
        sql`INSERT INTO fidelity (id, label) VALUES (20, 'batch-a')`,
        sql`INSERT INTO fidelity (id, label) VALUES (21, 'batch-a')`,
      ])
      .catch((e: unknown) => e);
    expect(sqlState(error)).toBe(UNIQUE_VIOLATION);
    const rows = await sql`SELECT id FROM fidelity WHERE id IN (20, 21)`;
    expect(rows).toEqual([]);

    const results = await sql.transaction([
      sql`INSERT INTO fidelity (id, label) VALUES (20, 'batch-b') RETURNING id`,
      sql`SELECT count(*)::int AS n FROM fidelity WHERE id = 20`,
    ]);
    expect(results).toEqual([[{ id: 20 }], [{ n: 1 }]]);
  });

  it("honours the batch isolation level and read-only headers", async () => {
    const sql = testSql();
    const [[isolation]] = (await sql.transaction(
      [sql`SELECT current_setting('transaction_isolation') AS level`],
      {
        isolationLevel: "Serializable",
      },
    )) as [[{ level: string }]];
    expect(isolation.level).toBe("serializable");

    const readOnly = await sql
      .transaction([sql`INSERT INTO fidelity (id) VALUES (30)`], { readOnly: true })
      .catch((e: unknown) => e);
    expect(sqlState(readOnly)).toBe("25006");
  });

  it("works under drizzle neon-http, including a batch", async () => {
    const db = createDb(testEnv());
    const rows = await db
      .select({ type: policyApprovalLevels.policyType, level: policyApprovalLevels.approvalLevel })
      .from(policyApprovalLevels)
      .where(eq(policyApprovalLevels.policyType, "cost"));
    expect(rows).toEqual([{ type: "cost", level: "agent_approve" }]);
    const [count, now] = await db.batch([
      db.select({ n: drizzleSql<number>`count(*)::int` }).from(policyApprovalLevels),
      db.execute(drizzleSql`SELECT now() AS now`),
    ]);
    expect(count[0]?.n).toBe(4);
    // drizzle's neon-http session leaves timestamps as text for its own column mapping.
    expect(String(now.rows[0]?.now)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
  });
});

describe("WebSocket proxy (interactive transactions)", () => {
  it("commits an interactive transaction over the WebSocket Pool", async () => {
    const ctx = createExecutionContext();
    const id = await withInteractiveTransaction(testEnv(), ctx, async (tx) => {
      await tx.execute(drizzleSql`INSERT INTO fidelity (id, label) VALUES (40, 'ws')`);
      const result = await tx.execute<{ id: number }>(drizzleSql`SELECT id FROM fidelity WHERE label = 'ws'`);
      return result.rows[0]?.id;
    });
    await waitOnExecutionContext(ctx);
    expect(id).toBe(40);
    expect(await testSql()`SELECT label FROM fidelity WHERE id = 40`).toEqual([{ label: "ws" }]);
  });

  it("rolls back when the work throws, and passes the SQLSTATE through", async () => {
    const ctx = createExecutionContext();
    const error = await withInteractiveTransaction(testEnv(), ctx, async (tx) => {
      await tx.execute(drizzleSql`INSERT INTO fidelity (id, label) VALUES (41, 'ws-rollback')`);
      await tx.execute(drizzleSql`INSERT INTO fidelity (id, label) VALUES (42, 'ws-rollback')`);
    }).catch((e: unknown) => e);
    await waitOnExecutionContext(ctx);
    expect(sqlState(error)).toBe(UNIQUE_VIOLATION);
    expect(await testSql()`SELECT id FROM fidelity WHERE id IN (41, 42)`).toEqual([]);
  });

  it("takes row locks that a concurrent HTTP statement waits for", async () => {
    await testSql()`INSERT INTO fidelity (id, label) VALUES (50, 'lock')`;
    const ctx = createExecutionContext();
    const order: string[] = [];
    let httpUpdate: Promise<unknown> | undefined;
    await withInteractiveTransaction(testEnv(), ctx, async (tx) => {
      await tx.execute(drizzleSql`SELECT id FROM fidelity WHERE id = 50 FOR UPDATE`);
      httpUpdate = testSql()`UPDATE fidelity SET label = 'http' WHERE id = 50`.then(() => order.push("http"));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await tx.execute(drizzleSql`UPDATE fidelity SET label = 'ws-lock' WHERE id = 50`);
      order.push("ws");
    });
    await httpUpdate;
    await waitOnExecutionContext(ctx);
    expect(order).toEqual(["ws", "http"]);
    expect(await testSql()`SELECT label FROM fidelity WHERE id = 50`).toEqual([{ label: "http" }]);
  });
});
