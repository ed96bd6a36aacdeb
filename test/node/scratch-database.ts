// A database of its own for a Node-side test file, on the server the globalSetup started.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { ensureDatabase } from "../../scripts/lib/local-stack.ts";

export function scratchDatabase(prefix: string) {
  const name = `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const adminUrl = inject("adminDatabaseUrl");
  return {
    url: adminUrl.replace(/\/postgres$/, `/${name}`),
    create: () => ensureDatabase(adminUrl, name),
    async drop() {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}
