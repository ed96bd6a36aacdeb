// The audit trail as an operation: admins search who changed keys, policies, switches and emergency
// settings (the rows every such change writes, through the API, the CLI or raw SQL via triggers).
import { type AuditEventRow, type AuditFilter, searchAuditEvents } from "../db/audit.ts";
import type { Principal } from "../domain/access.ts";
import { assertCan } from "../lib/permissions.ts";
import type { ServiceContext } from "./context.ts";

export const AUDIT_SEARCH_LIMIT = 100;

export async function searchAudit(
  ctx: ServiceContext,
  principal: Principal,
  filter: AuditFilter,
): Promise<AuditEventRow[]> {
  assertCan(principal, "audit:read");
  return searchAuditEvents(ctx.db, filter, AUDIT_SEARCH_LIMIT);
}
