// Who may do what: roles, tenant scope, approval levels and the no-self-approval rule. Pure functions;
// the HTTP layer turns a refusal into 403 (or 404 where admitting existence would leak another
// tenant's data).
import type { Role } from "./api-keys.ts";
import { toLevel } from "./vocabulary.ts";

export interface Principal {
  /** The key's id, or "bootstrap" for the ADMIN_API_KEY secret. */
  keyId: string;
  principalId: string;
  role: Role;
  /** Highest approval level this principal may act at (1 auto_approve … 5 owner_override). */
  maxLevel: number;
  /** Tenant the key is confined to; null for every tenant. */
  tenantId: string | null;
}

export const PERMISSIONS = [
  "policy:evaluate",
  "decisions:read",
  "usage:report",
  "requests:create",
  "requests:read",
  "requests:cancel",
  "requests:decide",
  "policies:manage",
  "keys:manage",
  "emergency",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  agent: [
    "policy:evaluate",
    "decisions:read",
    "usage:report",
    "requests:create",
    "requests:read",
    "requests:cancel",
  ],
  approver: ["decisions:read", "requests:read", "requests:decide"],
  admin: PERMISSIONS,
};

export function can(principal: Pick<Principal, "role">, permission: Permission): boolean {
  return ROLE_PERMISSIONS[principal.role].includes(permission);
}

/** The roles holding `permission` (published per operation in the OpenAPI document). */
export function rolesWith(permission: Permission): Role[] {
  return (Object.keys(ROLE_PERMISSIONS) as Role[]).filter((role) =>
    ROLE_PERMISSIONS[role].includes(permission),
  );
}

export function inTenantScope(principal: Pick<Principal, "tenantId">, tenantId: string): boolean {
  return principal.tenantId === null || principal.tenantId === tenantId;
}

export type Refusal = { allowed: false; reason: string };
export type Allowed<T> = { allowed: true } & T;

/**
 * The identity and level an approval is recorded with. Both come from the key: a body `approver_id`
 * must name the key's own principal, and a body `level` may only lower the key's level, never raise it.
 */
export function approvalIdentity(
  principal: Principal,
  body: { approver_id?: string | undefined; level?: string | number | undefined },
): Allowed<{ approverId: string; level: number }> | Refusal {
  if (body.approver_id !== undefined && body.approver_id !== principal.principalId) {
    return { allowed: false, reason: "approver_id must be the API key's own principal" };
  }
  if (body.level === undefined)
    return { allowed: true, approverId: principal.principalId, level: principal.maxLevel };
  const level = toLevel(body.level);
  if (level === undefined) return { allowed: false, reason: `unknown approval level: ${String(body.level)}` };
  if (level > principal.maxLevel) {
    return {
      allowed: false,
      reason: `level ${level} is above this key's maximum level ${principal.maxLevel}`,
    };
  }
  return { allowed: true, approverId: principal.principalId, level };
}

/** Whoever asked for an action never approves it: neither the named requester nor the key that filed it. */
export function isSelfApproval(
  principal: Principal,
  request: { requestedBy: string; createdByKeyId?: string | null | undefined },
): boolean {
  return principal.principalId === request.requestedBy || principal.keyId === request.createdByKeyId;
}
