import { defineConfig } from "drizzle-kit";

// drizzle-kit only generates SQL from the schema here; `npm run db:migrate` applies it.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema.ts",
  out: "./migrations",
  strict: true,
  verbose: true,
});
