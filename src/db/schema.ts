// The Drizzle schema: the single source for the SQL in migrations/ (drizzle-kit generates it from here).
// This index re-exports the table groups of src/db/schema/ (one file per group; their shared column
// helpers live in columns.ts and are not part of the schema). Importers and drizzle.config.ts use this file.
// Table and column names the M5 runbook's SQL touches are part of the compatibility contract
// (DESIGN.md §3): approval_requests(id, status, status_history_json, webhook_url, webhook_attempts,
// last_webhook_status, created_at, resolved_at) and policy_approval_levels(approval_level).

export * from "./schema/audit.ts";
export * from "./schema/decisions.ts";
export * from "./schema/directory.ts";
export * from "./schema/keys.ts";
export * from "./schema/operations.ts";
export * from "./schema/policies.ts";
export * from "./schema/receipts.ts";
export * from "./schema/requests.ts";
export * from "./schema/slack.ts";
export * from "./schema/spend.ts";
export * from "./schema/webhooks.ts";
