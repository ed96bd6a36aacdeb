// The principal directory (issue 25): where each principal, or a tenant as a whole, is reached
// (contact points), and who stands in for whom while away (delegations). Principals have no table of
// their own: a principal is the principal_id its API keys carry. A principal's browsers that take Web
// Push notifications (push subscriptions, issue 31) are here too.
import { sql } from "drizzle-orm";
import { bigserial, check, index, pgTable, text, unique } from "drizzle-orm/pg-core";
import { CONTACT_CHANNELS, type ContactChannel } from "../../domain/vocabulary.ts";
import { quotedList, timestamptz } from "./columns.ts";

/**
 * One way to reach a principal (principal_id set) or everyone deciding a tenant's requests
 * (principal_id NULL, tenant_id set). For a principal, tenant_id NULL means for every tenant its keys
 * cover. Email is stored as the address; a chat or webhook URL carries its own credential, so it is
 * stored sealed (url_encrypted, like webhook secrets) and shown by `address`, a display form without
 * the secret path. target_fingerprint (a keyed hash of the full target) makes duplicates refusable
 * without reading the sealed value.
 */
export const contactPoints = pgTable(
  "contact_points",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    principalId: text("principal_id"),
    tenantId: text("tenant_id"),
    channel: text("channel").$type<ContactChannel>().notNull(),
    address: text("address").notNull(),
    urlEncrypted: text("url_encrypted"),
    /** The `webhook` channel's Standard Webhooks signing secret, sealed. */
    secretEncrypted: text("secret_encrypted"),
    targetFingerprint: text("target_fingerprint").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    index("contact_points_principal_idx").on(table.principalId),
    index("contact_points_tenant_idx").on(table.tenantId),
    unique("contact_points_target_key")
      .on(table.principalId, table.tenantId, table.channel, table.targetFingerprint)
      .nullsNotDistinct(),
    check("contact_points_channel_valid", sql`${table.channel} IN (${quotedList(CONTACT_CHANNELS)})`),
    check("contact_points_owner", sql`${table.principalId} IS NOT NULL OR ${table.tenantId} IS NOT NULL`),
    check("contact_points_url_sealed", sql`(${table.channel} = 'email') = (${table.urlEncrypted} IS NULL)`),
    check(
      "contact_points_secret_only_for_webhooks",
      sql`${table.secretEncrypted} IS NULL OR ${table.channel} = 'webhook'`,
    ),
  ],
);

/**
 * principal_id is away from starts_at to ends_at: delegate_id is told of what principal_id would be
 * told, and decides at its own level, recorded as on behalf of principal_id. tenant_id NULL: in every
 * tenant. A revoked delegation (revoked_at) is over.
 */
export const delegations = pgTable(
  "delegations",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    principalId: text("principal_id").notNull(),
    delegateId: text("delegate_id").notNull(),
    tenantId: text("tenant_id"),
    startsAt: timestamptz("starts_at").notNull(),
    endsAt: timestamptz("ends_at").notNull(),
    reason: text("reason"),
    createdBy: text("created_by").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    revokedAt: timestamptz("revoked_at"),
    revokedBy: text("revoked_by"),
  },
  (table) => [
    index("delegations_delegate_idx").on(table.delegateId, table.endsAt),
    index("delegations_principal_idx").on(table.principalId, table.endsAt),
    check("delegations_not_self", sql`${table.principalId} <> ${table.delegateId}`),
    check("delegations_period", sql`${table.endsAt} > ${table.startsAt}`),
  ],
);

export type ContactPointRow = typeof contactPoints.$inferSelect;
export type DelegationRow = typeof delegations.$inferSelect;

/**
 * The view tokens of notification links that have been used: a link opens its request's page once
 * (its token's jti is recorded here on first use), and a row outlives its token only until expires_at,
 * after which the token is refused as expired anyway and the row can go.
 */
export const viewTokenUses = pgTable(
  "view_token_uses",
  {
    jti: text("jti").primaryKey(),
    requestId: text("request_id").notNull(),
    principalId: text("principal_id").notNull(),
    usedAt: timestamptz("used_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
  },
  (table) => [index("view_token_uses_expires_idx").on(table.expiresAt)],
);

/**
 * A browser that takes Web Push notifications for a principal (issue 31): the push service's endpoint
 * (unique: one browser profile, one principal) and the subscription's keys, which only let a sender
 * encrypt for it (the push service also wants this server's VAPID signature). Made and removed by its
 * principal in the console; removed by the sender when the push service answers 404 or 410.
 */
export const pushSubscriptions = pgTable(
  "push_subscriptions",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    principalId: text("principal_id").notNull(),
    endpoint: text("endpoint").notNull(),
    /** The browser's P-256 public key, base64url (65 bytes). */
    p256dh: text("p256dh").notNull(),
    /** The browser's auth secret, base64url (16 bytes). */
    auth: text("auth").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    lastSuccessAt: timestamptz("last_success_at"),
    lastFailureAt: timestamptz("last_failure_at"),
  },
  (table) => [
    unique("push_subscriptions_endpoint_key").on(table.endpoint),
    index("push_subscriptions_principal_idx").on(table.principalId),
    check("push_subscriptions_endpoint_https", sql`${table.endpoint} ~ '^https?://'`),
  ],
);

export type PushSubscriptionRow = typeof pushSubscriptions.$inferSelect;
