// Reading the audit trail (audit_events): newest first, filtered.
import { and, desc, eq, gte, ilike, type SQL } from "drizzle-orm";
import type { Database } from "./client.ts";
import { auditEvents } from "./schema.ts";

export interface AuditFilter {
  actor?: string | undefined;
  /** A prefix of the action, e.g. "api_key." or "policy.". */
  actionPrefix?: string | undefined;
  targetId?: string | undefined;
  since?: Date | undefined;
}

export type AuditEventRow = typeof auditEvents.$inferSelect;

export async function searchAuditEvents(
  db: Database,
  filter: AuditFilter,
  limit: number,
): Promise<AuditEventRow[]> {
  const conditions: (SQL | undefined)[] = [
    filter.actor ? eq(auditEvents.actor, filter.actor) : undefined,
    filter.actionPrefix
      ? ilike(auditEvents.action, `${filter.actionPrefix.replace(/[\\%_]/g, "\\$&")}%`)
      : undefined,
    filter.targetId ? eq(auditEvents.targetId, filter.targetId) : undefined,
    filter.since ? gte(auditEvents.createdAt, filter.since) : undefined,
  ];
  return db
    .select()
    .from(auditEvents)
    .where(and(...conditions))
    .orderBy(desc(auditEvents.createdAt), desc(auditEvents.id))
    .limit(limit);
}
