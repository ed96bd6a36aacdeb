// npm run db:migrate | db:rollback | db:status | db:seed (`-- --help` for the usage)
// Against DATABASE_URL when set (e.g. Neon: use the direct, non-pooled connection string), otherwise
// against the embedded PostgreSQL of `npm run dev` (started for the command if it is not running).
import { runCli, UsageError } from "./lib/cli.ts";
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

const USAGE = `usage: npm run db:migrate | db:rollback | db:status | db:seed
  migrate    apply pending migrations
  rollback   undo the last applied migration
  status     each migration: applied, pending or CHANGED (its file differs from what was applied)
  seed       the development data (tenant demo's policy and agents)

  Acts on DATABASE_URL when set (Neon: the direct, non-pooled connection string), else on the embedded
  PostgreSQL of \`npm run dev\` in .data/postgres (port EMBEDDED_PG_PORT, default 5433, or the running
  stack's, from .data/dev-stack.json), started for the command when it is not running.`;

// npm passes the command first (db:status runs `db.ts status`); help may follow it or stand alone.
const argv = process.argv.slice(2);
const name = argv[0] === undefined || argv[0] === "help" || argv[0].startsWith("-") ? "" : argv[0];
const extra = name ? argv.slice(1) : argv;
await runCli({ name: `npm run db:${name}`, usage: USAGE }, extra, async () => {
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}" (${Object.keys(commands).join(", ")})`);
  if (extra.length > 0) throw new UsageError(`takes no arguments (got ${extra.join(" ")})`);
  const db = await openDatabase();
  console.log(
    `database: ${db.source}${db.source === "DATABASE_URL" ? "" : ` (${LOCAL.dataDir}, port ${LOCAL.postgresPort})`}`,
  );
  try {
    await command(db.url);
    return 0;
  } finally {
    await db.close();
  }
});
