// Slack (issue 26): a tenant's connected workspace (its bot token and signing secret sealed like
// webhook secrets), the verified links between Slack users and principals, the messages posted about
// each request (to update them when it is decided), and the interactions already taken (replays).
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  check,
  index,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  unique,
} from "drizzle-orm/pg-core";
import type { SlackRoute } from "../../domain/slack-routing.ts";
import { timestamptz } from "./columns.ts";

/** One tenant's Slack workspace. The secrets are AES-GCM sealed (src/lib/secrets.ts), never returned. */
export const slackWorkspaces = pgTable(
  "slack_workspaces",
  {
    tenantId: text("tenant_id").primaryKey(),
    /** The workspace (team) id, T…; interactions from any other team are refused. */
    teamId: text("team_id").notNull(),
    botTokenEncrypted: text("bot_token_encrypted").notNull(),
    signingSecretEncrypted: text("signing_secret_encrypted").notNull(),
    /** Where a request goes when no route matches: a channel id (C…, G…). */
    defaultChannel: text("default_channel").notNull(),
    routes: jsonb("routes").$type<SlackRoute[]>().notNull().default([]),
    /** The highest required level that may be decided from Slack; above it only "Open in console". */
    maxDecideLevel: smallint("max_decide_level").notNull().default(4),
    createdBy: text("created_by").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedBy: text("updated_by").notNull(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    index("slack_workspaces_team_idx").on(table.teamId),
    check("slack_workspaces_max_decide_level_range", sql`${table.maxDecideLevel} BETWEEN 1 AND 5`),
  ],
);

/** A Slack user verified as a principal: by an admin, or confirmed by the principal in its console session. */
export const slackUserLinks = pgTable(
  "slack_user_links",
  {
    teamId: text("team_id").notNull(),
    slackUserId: text("slack_user_id").notNull(),
    principalId: text("principal_id").notNull(),
    /** admin (mapped by an admin key) or console (confirmed by the principal, signed in). */
    method: text("method").notNull(),
    linkedBy: text("linked_by").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.teamId, table.slackUserId] }),
    index("slack_user_links_principal_idx").on(table.principalId),
    check("slack_user_links_method_valid", sql`${table.method} IN ('admin', 'console')`),
  ],
);

/** A message posted about a request (channel and ts name it for chat.update). */
export const slackMessages = pgTable(
  "slack_messages",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    requestId: text("request_id").notNull(),
    tenantId: text("tenant_id").notNull(),
    channel: text("channel").notNull(),
    ts: text("ts").notNull(),
    /** The outbox delivery that posted it. */
    deliveryId: bigint("delivery_id", { mode: "number" }),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at"),
  },
  (table) => [
    unique("slack_messages_channel_ts_key").on(table.channel, table.ts),
    index("slack_messages_request_idx").on(table.requestId),
  ],
);

/**
 * Interactions already taken, by a hash of their signature, kept past Slack's five-minute window:
 * a replayed request (same signature) is refused.
 */
export const slackInteractionReceipts = pgTable(
  "slack_interaction_receipts",
  {
    signatureHash: text("signature_hash").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    receivedAt: timestamptz("received_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
  },
  (table) => [index("slack_interaction_receipts_expires_idx").on(table.expiresAt)],
);

export type SlackWorkspaceRow = typeof slackWorkspaces.$inferSelect;
export type SlackUserLinkRow = typeof slackUserLinks.$inferSelect;
export type SlackMessageRow = typeof slackMessages.$inferSelect;
