// The audit trail: who changed what (audit_events), the tamper-evident hash chains every audit record
// is appended to, and the signed checkpoints of their heads.
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  check,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import { timestamptz } from "./columns.ts";

/** Who changed what and when: key management, policy changes, emergency actions. Append-only. */
export const auditEvents = pgTable(
  "audit_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    actor: text("actor").notNull(),
    /** The API key that acted ("bootstrap" for ADMIN_API_KEY, "cli" for the operator script). */
    actorKeyId: text("actor_key_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    before: jsonb("before").$type<Record<string, unknown>>(),
    after: jsonb("after").$type<Record<string, unknown>>(),
    requestId: text("request_id"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    index("audit_events_target_idx").on(table.targetType, table.targetId, table.createdAt),
    index("audit_events_created_idx").on(table.createdAt),
  ],
);

/**
 * The tamper-evident audit trail (migration 0014): every audit record (audit_events rows, approval
 * request creations, transitions and approvals) appended by triggers in the same transaction as the
 * change, one hash chain per tenant plus the global chain '*'. `content` holds the exact bytes hashed;
 * `hash` = SHA-256 of prev_hash, chain_id, seq and content (src/domain/audit-chain.ts verifies it).
 */
export const auditChain = pgTable(
  "audit_chain",
  {
    /** The tenant id, or '*' for records without a tenant (global keys, switches, emergency operations). */
    chainId: text("chain_id").notNull(),
    /** 1, 2, 3… within the chain, without gaps. */
    seq: bigint("seq", { mode: "number" }).notNull(),
    /** What happened, e.g. "audit_event", "approval_request.created", "approval_request.changed". */
    kind: text("kind").notNull(),
    sourceTable: text("source_table").notNull(),
    sourceId: text("source_id").notNull(),
    /** Canonical JSON text (jsonb's own rendering), hashed byte for byte. */
    content: text("content").notNull(),
    /** The previous record's hash; 64 zeros for the first record. */
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.chainId, table.seq] }),
    // The export's time slices (migration 0015): find a chain's first and last record in a window.
    index("audit_chain_created_idx").on(table.chainId, table.createdAt),
    check("audit_chain_seq_positive", sql`${table.seq} >= 1`),
    check(
      "audit_chain_hash_format",
      sql`${table.hash} ~ '^[0-9a-f]{64}$' AND ${table.prevHash} ~ '^[0-9a-f]{64}$'`,
    ),
  ],
);

/**
 * Signed checkpoints of the audit chains (migration 0015): every minute the cron signs the head of each
 * chain that moved, with the AUDIT_SIGNING_KEY secret (Ed25519), so an export can be checked against
 * something a writer of the database cannot forge (src/domain/audit-checkpoint.ts). Append-only.
 */
export const auditCheckpoints = pgTable(
  "audit_checkpoints",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    chainId: text("chain_id").notNull(),
    /** The head's seq when signed: records 1..seq are covered. */
    seq: bigint("seq", { mode: "number" }).notNull(),
    headHash: text("head_hash").notNull(),
    /** Part of the signed message (ISO, milliseconds). */
    signedAt: timestamptz("signed_at").notNull(),
    /** First 16 hex of SHA-256 of the raw public key. */
    keyId: text("key_id").notNull(),
    /** Ed25519 signature, base64. */
    signature: text("signature").notNull(),
  },
  (table) => [
    // One checkpoint per head and key: overlapping cron runs insert it once (ON CONFLICT DO NOTHING).
    uniqueIndex("audit_checkpoints_chain_seq_key_idx").on(table.chainId, table.seq, table.keyId),
    check("audit_checkpoints_seq_positive", sql`${table.seq} >= 1`),
    check("audit_checkpoints_hash_format", sql`${table.headHash} ~ '^[0-9a-f]{64}$'`),
  ],
);

export type AuditChainRow = typeof auditChain.$inferSelect;
export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
