// Credentials: API keys (only a hash of each secret) and the approver console's sign-in sessions,
// which stand for a key and die with it.
import { sql } from "drizzle-orm";
import { check, index, pgTable, smallint, text } from "drizzle-orm/pg-core";
import { ROLES } from "../../domain/vocabulary.ts";
import { quotedList, timestamptz } from "./columns.ts";

export const apiKeys = pgTable(
  "api_keys",
  {
    /** 16 hex characters; the public middle part of the token `pak_<id>_<secret>`. */
    id: text("id").primaryKey(),
    /** SHA-256 (hex) of the token's secret part. The token itself is never stored. */
    secretHash: text("secret_hash").notNull(),
    name: text("name"),
    principalId: text("principal_id").notNull(),
    role: text("role", { enum: ROLES }).notNull(),
    /** Highest approval level the key may act at (1 auto_approve … 5 owner_override). */
    maxLevel: smallint("max_level").notNull(),
    /** NULL: every tenant. */
    tenantId: text("tenant_id"),
    /**
     * Agent keys: the agents the key may act for, as exact ids or prefixes ending in `*` (`["*"]`: a
     * platform key acting for any agent). NULL: only the key's own principal.
     */
    agentIds: text("agent_ids").array(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    revokedAt: timestamptz("revoked_at"),
    revokedBy: text("revoked_by"),
    lastUsedAt: timestamptz("last_used_at"),
  },
  (table) => [
    index("api_keys_principal_idx").on(table.principalId),
    index("api_keys_tenant_idx").on(table.tenantId),
    check("api_keys_id_format", sql`${table.id} ~ '^[0-9a-f]{16}$'`),
    check("api_keys_secret_hash_format", sql`${table.secretHash} ~ '^[0-9a-f]{64}$'`),
    check("api_keys_role_valid", sql`${table.role} IN (${quotedList(ROLES)})`),
    check("api_keys_max_level_range", sql`${table.maxLevel} BETWEEN 1 AND 5`),
  ],
);

/**
 * Approver console sign-ins. The session token lives only in the browser's HttpOnly cookie; this
 * keeps its SHA-256, the key it stands for (checked, with the key's own revocation, on every use),
 * its expiry and its sign-out.
 */
export const consoleSessions = pgTable(
  "console_sessions",
  {
    tokenHash: text("token_hash").primaryKey(),
    keyId: text("key_id")
      .notNull()
      .references(() => apiKeys.id, { onDelete: "cascade" }),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
    revokedAt: timestamptz("revoked_at"),
  },
  (table) => [index("console_sessions_key_idx").on(table.keyId)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type ConsoleSessionRow = typeof consoleSessions.$inferSelect;
