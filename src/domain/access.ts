// Who may do what: roles, tenant scope, approval levels and the no-self-approval rule. Pure functions;
// the HTTP layer turns a refusal into 403 (or 404 where admitting existence would leak another
// tenant's data).
import { type Role, toLevel } from "./vocabulary.ts";

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

export type Refusal = { allowed: false; reason: string };
export type Allowed<T> = { allowed: true } & T;

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

/** A new key's level when its creator names none; approvers must always be given one. */
export const DEFAULT_KEY_LEVEL: Record<Role, number | undefined> = {
  agent: 1,
  approver: undefined,
  admin: 5,
};

export function inTenantScope(principal: Pick<Principal, "tenantId">, tenantId: string): boolean {
  return principal.tenantId === null || principal.tenantId === tenantId;
}

/** Acting for a tenant (evaluate, file, report usage): the key's own tenant, or any for unscoped keys. */
export function tenantActionRefusal(principal: Pick<Principal, "tenantId">, tenantId: string): string | null {
  return inTenantScope(principal, tenantId) ? null : `This key may not act for tenant ${tenantId}`;
}

/**
 * Reading across records (lists): the tenant a listing is confined to. A scoped key always reads its
 * own tenant and may not ask for another; an unscoped key reads what it asks for (undefined: all).
 */
export function readableTenant(
  principal: Pick<Principal, "tenantId">,
  requested: string | undefined,
): { allowed: true; tenantId: string | undefined } | Refusal {
  if (principal.tenantId === null) return { allowed: true, tenantId: requested };
  if (requested !== undefined && requested !== principal.tenantId) {
    return { allowed: false, reason: `This key may only read tenant ${principal.tenantId}` };
  }
  return { allowed: true, tenantId: principal.tenantId };
}

/**
 * The identity and level an approval is recorded with. Both come from the key: a body `approver_id`
 * must name the key's own principal, and a body `level` may only lower the key's level, never raise it.
 */
export function approvalIdentity(
  principal: Principal,
  body: { approver_id?: string | undefined; level?: string | number | undefined },
): Allowed<{ approverId: string; level: number }> | Refusal {
  if (body.approver_id !== undefined && body.approver_id !== principal.principalId) {
    return {
      allowed: false,
      reason: `approver_id must be the API key's own principal: send "${principal.principalId}" or omit it`,
    };
  }
  if (body.level === undefined)
    return { allowed: true, approverId: principal.principalId, level: principal.maxLevel };
  const level = toLevel(body.level);
  if (level === undefined) return { allowed: false, reason: `unknown approval level: ${String(body.level)}` };
  if (level > principal.maxLevel) {
    return {
      allowed: false,
      reason: `level ${level} is above this key's maximum level ${principal.maxLevel}: send at most ${principal.maxLevel}, or omit it to act at the key's level`,
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

/**
 * The rules for a new key, for the admin API and the operator CLI alike. `creator` is null for an
 * operator with database access (no level bound). A refusal names the input field at fault, or none
 * when the creator's own level is what forbids it.
 */
export function checkNewKey(
  creator: Pick<Principal, "maxLevel"> | null,
  key: { role: Role; maxLevel: number | undefined; tenantId: string | null },
): { ok: true; maxLevel: number } | { ok: false; field: "max_level" | "tenant_id" | null; reason: string } {
  const maxLevel = key.maxLevel ?? DEFAULT_KEY_LEVEL[key.role];
  if (maxLevel === undefined) {
    return { ok: false, field: "max_level", reason: "required for role approver (1-5 or a level name)" };
  }
  if (key.role === "admin" && key.tenantId !== null) {
    return {
      ok: false,
      field: "tenant_id",
      reason: "admin keys are not tenant-scoped: omit it or send null",
    };
  }
  if (creator && maxLevel > creator.maxLevel) {
    return {
      ok: false,
      field: null,
      reason: `Cannot create a key above your own level (${creator.maxLevel})`,
    };
  }
  return { ok: true, maxLevel };
}
