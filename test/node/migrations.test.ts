// The migration runner against the real embedded PostgreSQL: migrate, roll back, migrate again.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listMigrations, migrateUp, migrationStatus, rollbackLast } from "../../scripts/lib/migrations.ts";
import { canonicalIdentifier } from "../../src/domain/limits.ts";
import { scratchDatabase } from "./scratch-database.ts";

const scratch = scratchDatabase("migrations");
const url = scratch.url;

async function query<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Tables, columns, constraints and indexes of the public schema: what a round trip must restore. */
async function schemaFingerprint(): Promise<string[]> {
  const rows = await query<{ item: string }>(`
    SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
             || ' ' || coalesce(column_default, '') AS item
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    ORDER BY 1`);
  return rows.map((row) => row.item);
}

beforeAll(async () => {
  await scratch.create();
});

afterAll(() => scratch.drop());

describe("migrations", () => {
  it("pairs every migration in the journal with its SQL and a rollback", () => {
    const migrations = listMigrations();
    expect(migrations.length).toBeGreaterThanOrEqual(2);
    for (const migration of migrations) {
      expect(existsSync(migration.upFile), migration.upFile).toBe(true);
      expect(existsSync(migration.downFile), migration.downFile).toBe(true);
      expect(readFileSync(migration.downFile, "utf8").trim()).not.toBe("");
    }
  });

  it("applies all, rolls each back in reverse order, and re-applies to the same schema", async () => {
    const tags = listMigrations().map((m) => m.tag);
    expect(await migrateUp(url)).toEqual(tags);
    expect(await migrateUp(url)).toEqual([]);
    const fingerprint = await schemaFingerprint();
    expect(fingerprint.length).toBeGreaterThan(10);
    const seeded = await query<{ policy_type: string }>(
      "SELECT policy_type FROM policy_approval_levels WHERE tenant_id IS NULL ORDER BY policy_type",
    );
    expect(seeded.map((row) => row.policy_type)).toEqual(["capability", "cost", "rate_limit", "resource"]);

    for (const tag of [...tags].reverse()) expect(await rollbackLast(url)).toBe(tag);
    expect(await rollbackLast(url)).toBeUndefined();
    expect(await schemaFingerprint()).toEqual([]);
    expect((await migrationStatus(url)).every((m) => !m.applied)).toBe(true);

    expect(await migrateUp(url)).toEqual(tags);
    expect(await schemaFingerprint()).toEqual(fingerprint);
  });

  it("rolls back only the last migration, and migrate re-applies just that one", async () => {
    await migrateUp(url);
    const tags = listMigrations().map((m) => m.tag);
    const last = tags.at(-1);
    expect(await rollbackLast(url)).toBe(last);
    const status = await migrationStatus(url);
    expect(status.filter((m) => !m.applied).map((m) => m.tag)).toEqual([last]);
    expect(await migrateUp(url)).toEqual([last]);
  });

  it("applies each migration once when two runners race", async () => {
    while (await rollbackLast(url)) {
      // back to an empty database
    }
    const [a, b] = await Promise.all([migrateUp(url), migrateUp(url)]);
    expect([...a, ...b].sort()).toEqual(
      listMigrations()
        .map((m) => m.tag)
        .sort(),
    );
    const rows = await query<{ n: string }>("SELECT count(*) AS n FROM drizzle.__drizzle_migrations");
    expect(Number(rows[0]?.n)).toBe(listMigrations().length);
  });

  it("refuses to run when an applied migration was edited afterwards", async () => {
    await migrateUp(url);
    const [first] = listMigrations();
    if (!first) throw new Error("no migrations");
    await query(
      `UPDATE drizzle.__drizzle_migrations SET hash = 'edited' WHERE created_at = ${Number(first.createdAt)}`,
    );
    await expect(migrateUp(url)).rejects.toThrow(
      /applied migrations were edited afterwards: 0000_initial_schema/,
    );
    expect((await migrationStatus(url)).find((m) => m.tag === first.tag)?.changed).toBe(true);
    await query(
      `UPDATE drizzle.__drizzle_migrations SET hash = '${createHash("sha256").update(readFileSync(first.upFile, "utf8")).digest("hex")}' WHERE created_at = ${Number(first.createdAt)}`,
    );
    expect(await migrateUp(url)).toEqual([]);
  });

  it("0016 folds stored skill ids and patterns as the code does, and stops on rules that would clash", async () => {
    await migrateUp(url);
    // Back to just before 0016: every migration after it first, then 0016 itself.
    let tag = await rollbackLast(url);
    while (tag && tag !== "0016_canonical_skill_ids") tag = await rollbackLast(url);
    expect(tag).toBe("0016_canonical_skill_ids");
    // Rules written before skill ids had one spelling, each in a tenant of its own.
    const spellings = [
      "Shell.*",
      " SHELL.EXEC",
      "ｓｈｅｌｌ.*",
      "\u017fhell.exec\u3000",
      "Mixed.Case_1",
      "*",
    ];
    for (const [index, pattern] of spellings.entries()) {
      await query(
        `INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES ('legacy-${index}', ${literal(pattern)}, 'deny')`,
      );
    }
    await query(
      "INSERT INTO policy_approval_levels (policy_type, tenant_id, skill_id, approval_level) VALUES ('cost', 'legacy', 'Payments.Transfer', 'manual_approve')",
    );
    await query("INSERT INTO skill_costs (skill_id, base_cents) VALUES ('Search.WEB', 3)");
    expect((await migrateUp(url))[0]).toBe("0016_canonical_skill_ids");

    const rules = await query<{ tenant_id: string; skill_pattern: string }>(
      "SELECT tenant_id, skill_pattern FROM capability_rules WHERE tenant_id LIKE 'legacy-%' ORDER BY id",
    );
    expect(rules.map((rule) => rule.skill_pattern)).toEqual(spellings.map(canonicalIdentifier));
    expect(await query("SELECT skill_id FROM policy_approval_levels WHERE tenant_id = 'legacy'")).toEqual([
      { skill_id: "payments.transfer" },
    ]);
    expect(await query("SELECT skill_id FROM skill_costs WHERE base_cents = 3")).toEqual([
      { skill_id: "search.web" },
    ]);
    // Audited like any policy change, under the migration's name.
    const audited = await query<{ n: string }>(
      "SELECT count(*) AS n FROM audit_events WHERE actor = 'migration:0016_canonical_skill_ids'",
    );
    expect(Number(audited[0]?.n)).toBe(spellings.length - 1 + 2);
    await expect(
      query(
        "INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES ('legacy-x', 'Files.*', 'deny')",
      ),
    ).rejects.toThrow(/capability_rules_skill_pattern_canonical/);

    // Two rules of one scope that differ only in case: the migration names them and changes nothing.
    tag = await rollbackLast(url);
    while (tag && tag !== "0016_canonical_skill_ids") tag = await rollbackLast(url);
    expect(tag).toBe("0016_canonical_skill_ids");
    await query(
      "INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES ('clash', 'Vault.*', 'allow'), ('clash', 'vault.*', 'deny')",
    );
    await expect(migrateUp(url)).rejects.toThrow(/capability_rules \d+, \d+ are one scope/);
    expect(
      await query("SELECT skill_pattern FROM capability_rules WHERE tenant_id = 'clash' ORDER BY id"),
    ).toEqual([{ skill_pattern: "Vault.*" }, { skill_pattern: "vault.*" }]);
    await query("DELETE FROM capability_rules WHERE tenant_id = 'clash' AND skill_pattern = 'Vault.*'");
    expect((await migrateUp(url))[0]).toBe("0016_canonical_skill_ids");
  });
});

/** A string as an SQL literal (test values only). */
function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
