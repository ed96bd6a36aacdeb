// Spend: the ledger of approved calls and reported usage, and the running totals budget checks read.
import { sql } from "drizzle-orm";
import { bigint, bigserial, check, index, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import { BUDGET_PERIODS, SPEND_SOURCES } from "../../domain/vocabulary.ts";
import { quotedList, timestamptz } from "./columns.ts";

/** The spend ledger: approved and auto-approved requests, and usage the platform reports. */
export const spendLedger = pgTable(
  "spend_ledger",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id"),
    skillId: text("skill_id"),
    amountCents: bigint("amount_cents", { mode: "number" }).notNull(),
    source: text("source", { enum: SPEND_SOURCES }).notNull(),
    /** The request id or the reporter's usage id: one ledger entry per tenant and reference. */
    reference: text("reference").notNull(),
    occurredAt: timestamptz("occurred_at").notNull().defaultNow(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    // References are the reporter's ids: unique within a tenant, not across tenants.
    uniqueIndex("spend_ledger_tenant_reference_key").on(table.tenantId, table.source, table.reference),
    index("spend_ledger_tenant_time_idx").on(table.tenantId, table.occurredAt),
    index("spend_ledger_agent_time_idx").on(table.tenantId, table.agentId, table.occurredAt),
    check("spend_ledger_source_valid", sql`${table.source} IN (${quotedList(SPEND_SOURCES)})`),
    check("spend_ledger_amount_nonnegative", sql`${table.amountCents} >= 0`),
  ],
);

/**
 * Running totals of the spend ledger per tenant (agent_id '') and per agent, per UTC day and month,
 * kept by a trigger on spend_ledger (migration 0012). Budget checks read at most four of these rows
 * instead of summing a month of ledger entries on every evaluation and filing.
 */
export const spendTotals = pgTable(
  "spend_totals",
  {
    tenantId: text("tenant_id").notNull(),
    /** '' for the tenant as a whole. */
    agentId: text("agent_id").notNull().default(""),
    period: text("period", { enum: BUDGET_PERIODS }).notNull(),
    periodStart: timestamptz("period_start").notNull(),
    amountCents: bigint("amount_cents", { mode: "number" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.tenantId, table.agentId, table.period, table.periodStart] }),
    check("spend_totals_period_valid", sql`${table.period} IN (${quotedList(BUDGET_PERIODS)})`),
  ],
);

export type SpendLedgerRow = typeof spendLedger.$inferSelect;
