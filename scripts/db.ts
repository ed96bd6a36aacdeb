// npm run db:migrate | db:rollback | db:status | db:seed
// Against DATABASE_URL when set (e.g. Neon: use the direct, non-pooled connection string), otherwise
// against the embedded PostgreSQL of `npm run dev` (started for the command if it is not running).
import { LOCAL, openDatabase } from "./lib/local-stack.ts";
import { migrateUp, migrationStatus, rollbackLast } from "./lib/migrations.ts";
import { seedDevelopmentData } from "./lib/seed.ts";

const commands: Record<string, (url: string) => Promise<void>> = {
  async migrate(url) {
    const applied = await migrateUp(url);
    console.log(
      applied.length ? `applied: ${applied.join(", ")}` : "nothing to apply: the database is up to date",
    );
  },
  async rollback(url) {
    const tag = await rollbackLast(url);
    console.log(tag ? `rolled back: ${tag}` : "nothing to roll back");
  },
  async status(url) {
    for (const m of await migrationStatus(url)) {
      console.log(`${m.changed ? "CHANGED" : m.applied ? "applied" : "pending"}  ${m.tag}`);
    }
  },
  async seed(url) {
    await seedDevelopmentData(url);
    console.log("seeded development data");
  },
};

const name = process.argv[2] ?? "";
const command = commands[name];
if (!command) {
  console.error(`usage: node scripts/db.ts <${Object.keys(commands).join("|")}>`);
  process.exit(2);
}
const db = await openDatabase();
console.log(
  `database: ${db.source}${db.source === "DATABASE_URL" ? "" : ` (${LOCAL.dataDir}, port ${LOCAL.postgresPort})`}`,
);
try {
  await command(db.url);
} catch (error) {
  console.error(`db ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await db.close();
}
