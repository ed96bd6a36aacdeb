// The audit trail as an operation: admins search who changed keys, policies, switches and emergency
// settings (the rows every such change writes, through the API, the CLI or raw SQL via triggers).
import { type AuditEventRow, type AuditFilter, searchAuditEvents } from "../db/audit.ts";
import { can, type Principal } from "../domain/access.ts";
import { ApiError } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";

export const AUDIT_SEARCH_LIMIT = 100;

export async function searchAudit(
  ctx: ServiceContext,
  principal: Principal,
  filter: AuditFilter,
): Promise<AuditEventRow[]> {
  if (!can(principal, "audit:read"))
    throw new ApiError("forbidden", `The ${principal.role} role may not read the audit trail`);
  return searchAuditEvents(ctx.db, filter, AUDIT_SEARCH_LIMIT);
}
