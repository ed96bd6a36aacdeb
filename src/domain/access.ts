// Who may do what: roles, tenant scope, approval levels and the no-self-approval rule. Pure functions;
// the HTTP layer turns a refusal into 403 (or 404 where admitting existence would leak another
// tenant's data).
import { type CanonicalId, canonicalId, canonicalIdentifier, canonicalIdPattern } from "./limits.ts";
import { DEFAULT_POLICY, LEVEL_NAMES, ROLES, type Role, toLevel } from "./vocabulary.ts";

export interface Principal {
  /** The key's id, or "bootstrap" for the ADMIN_API_KEY secret. */
  keyId: string;
  principalId: string;
  role: Role;
  /** Highest approval level this principal may act at (1 auto_approve … 5 owner_override). */
  maxLevel: number;
  /** Tenant the key is confined to; null for every tenant. */
  tenantId: string | null;
  /**
   * Agent keys: the agents the key may act for (exact ids, or prefixes ending in `*`; `["*"]` for a
   * platform key). null: only the key's own principal.
   */
  agentIds: readonly string[] | null;
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
  "directory:manage",
  "emergency",
  "metrics:read",
  "audit:read",
  "delegations:manage",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Each permission as the action it allows, for refusals people read ("may not decide approval requests"). */
export const PERMISSION_ACTIONS: Record<Permission, string> = {
  "policy:evaluate": "evaluate skill calls",
  "decisions:read": "read logged decisions",
  "usage:report": "report usage",
  "requests:create": "file approval requests",
  "requests:read": "read approval requests",
  "requests:cancel": "cancel approval requests",
  "requests:decide": "decide approval requests",
  "policies:manage": "manage policy",
  "keys:manage": "manage API keys",
  "directory:manage": "manage the principal directory (contact points)",
  emergency: "run emergency operations",
  "metrics:read": "read metrics",
  "audit:read": "read the audit trail",
  "delegations:manage": "manage delegations",
};

const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  agent: [
    "policy:evaluate",
    "decisions:read",
    "usage:report",
    "requests:create",
    "requests:read",
    "requests:cancel",
  ],
  approver: ["decisions:read", "requests:read", "requests:decide", "delegations:manage"],
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

/**
 * Whoever asked for an action never decides it: not the named requester, not the key that filed it,
 * and not the principal of that key (through another of its keys), whatever `requested_by` said.
 */
export function isSelfApproval(
  principal: Pick<Principal, "principalId" | "keyId">,
  request: {
    requestedBy: string;
    createdByKeyId?: string | null | undefined;
    requesterPrincipalId?: string | null | undefined;
  },
): boolean {
  // New ids are canonical, so this is exact; folding both sides also holds records and keys written
  // before ids had one spelling (`Alice` asked, `alice` approves): it can only refuse more, never less.
  const same = (a: string | null | undefined) =>
    a !== null && a !== undefined && canonicalIdentifier(a) === canonicalIdentifier(principal.principalId);
  return (
    same(request.requestedBy) ||
    same(request.requesterPrincipalId) ||
    principal.keyId === request.createdByKeyId
  );
}

/** Whether an agent id matches a key's agent pattern: exact, a prefix ending in `*`, or `*`. */
export function agentPatternMatches(pattern: string, agentId: string): boolean {
  return pattern.endsWith("*") ? agentId.startsWith(pattern.slice(0, -1)) : pattern === agentId;
}

const AGENT_PATTERNS_RULE =
  'a non-empty list of agent ids, prefixes ending in * (e.g. billing-*), or ["*"] for any agent';

/**
 * The agent a call is evaluated and filed for. An agent key acts as its own principal (agent_id
 * omitted or equal to it) unless it was created with a list of agents it may act for; a list key must
 * name one of them (or may omit it when the list is `*`, acting for no particular agent). Admin keys
 * act for any agent. Anything else is refused: a deny rule for one agent cannot be evaded by sending
 * another agent id, or none.
 */
export function actingAgent(
  principal: Pick<Principal, "role" | "principalId" | "agentIds">,
  requested: string | null,
): Allowed<{ agentId: string | null }> | Refusal {
  if (principal.role !== "agent") return { allowed: true, agentId: requested };
  const patterns = principal.agentIds;
  if (patterns === null) {
    if (requested === null || requested === principal.principalId) {
      return { allowed: true, agentId: principal.principalId };
    }
    return {
      allowed: false,
      reason: `This key acts only as agent ${principal.principalId}: send agent_id "${principal.principalId}" or omit it`,
    };
  }
  if (requested === null) {
    if (patterns.includes("*")) return { allowed: true, agentId: null };
    return {
      allowed: false,
      reason: `This key acts for several agents: send agent_id (one of ${patterns.join(", ")})`,
    };
  }
  if (patterns.some((pattern) => agentPatternMatches(pattern, requested))) {
    return { allowed: true, agentId: requested };
  }
  return {
    allowed: false,
    reason: `This key may not act for agent ${requested} (it may act for ${patterns.join(", ")})`,
  };
}

/** Approvers below the request's level may add a note; only those at or above it approve or veto. */
export function decidesAtLevel(approverLevel: number, requiredLevel: number): boolean {
  return approverLevel >= requiredLevel;
}

/** No key manages keys above its own level: creating one is checked by checkNewKey, revoking here. */
export function keyRevocationRefusal(
  revoker: Pick<Principal, "maxLevel">,
  target: { maxLevel: number },
): string | null {
  return target.maxLevel > revoker.maxLevel
    ? `Cannot revoke a key of level ${target.maxLevel}: above your own level (${revoker.maxLevel})`
    : null;
}

/**
 * The highest approval level a policy row governs by itself: an approval-level row its own level.
 * Every other kind governs the top level: capability rules can allow or deny anything and a more
 * specific one overrides a broader deny; budgets, skill costs and settings price every action.
 * Unknown level names count as the top level.
 */
export function governedLevel(kind: string, row: Record<string, unknown> | undefined): number {
  if (row === undefined) return 0;
  if (kind === "approval-levels") return levelOfName(row.approval_level);
  return TOP_LEVEL;
}

/**
 * The level in force for the calls an approval-level row would take over: the strictest broader
 * enabled row of its policy type (a row covering a superset of its scope), or the built-in default
 * when no fully global row covers them. Writing the row governs this level too.
 */
export function levelInForce(broader: Record<string, unknown>[]): number {
  const global = broader.some(
    (row) => row.tenant_id === null && row.agent_id === null && row.skill_id === null,
  );
  const levels = broader.map((row) => levelOfName(row.approval_level));
  if (!global) levels.push(levelOfName(DEFAULT_POLICY.approvalLevel));
  return Math.max(0, ...levels);
}

function levelOfName(name: unknown): number {
  return typeof name === "string" ? (toLevel(name) ?? TOP_LEVEL) : TOP_LEVEL;
}

const TOP_LEVEL = 5;

/** No admin changes policy that governs levels above its own (`governedLevel`: the highest it touches). */
export function policyChangeRefusal(
  principal: Pick<Principal, "maxLevel">,
  governedLevel: number,
): string | null {
  return governedLevel > principal.maxLevel
    ? `This change governs approval level ${governedLevel}, above your own level (${principal.maxLevel}); a key of level ${governedLevel} or more must make it`
    : null;
}

/** A new key as asked for, before any check: the admin API's body, the console's form, the CLI's flags. */
export interface NewKeyRequest {
  principalId: string;
  /** One of ROLES; anything else is refused. */
  role: string;
  /** 1–5 as a number or as digits, or a level name; undefined for the role's default. */
  maxLevel: string | number | undefined;
  tenantId: string | null;
  /** Agent keys: the agents it may act for; null: only itself. */
  agentIds: readonly string[] | null;
  name: string | null;
}

/** A new key that passed every rule: what is stored. */
export interface NewKey {
  principalId: string;
  role: Role;
  maxLevel: number;
  tenantId: string | null;
  agentIds: string[] | null;
  name: string | null;
}

/** A new key's fields as the admin API names them (the console's form and the CLI's flags map to them). */
export type NewKeyField = "principal_id" | "role" | "max_level" | "tenant_id" | "agent_ids" | "name";

export const KEY_NAME_MAX_LENGTH = 200;
const AGENT_IDS_MAX = 100;
// C0 and C1 control characters (line breaks, escapes): a name is a one-line label people read.
const CONTROL_CHARACTER = /\p{Cc}/u;

/** A level as a number (integer 1–5), as digits ("3", never "0x3", "3.0" or " 3") or as a name. */
function levelOf(value: string | number): number | undefined {
  if (typeof value === "number") return toLevel(value);
  return /^[1-5]$/.test(value) ? Number(value) : toLevel(value);
}

type NewKeyRefusal = { ok: false; field: NewKeyField | null; reason: string };

/**
 * Each field's own shape, before the rules that tie fields together; the ids come back folded like
 * every id (domain/limits.ts), so the key is created with the canonical ones.
 */
function newKeyShapeRefusal(
  key: NewKeyRequest,
): { ok: true; principalId: string; tenantId: string | null } | NewKeyRefusal {
  const principal = canonicalId(key.principalId);
  if (!principal.ok) return { ok: false, field: "principal_id", reason: principal.reason };
  if (!(ROLES as readonly string[]).includes(key.role)) {
    return { ok: false, field: "role", reason: `one of ${ROLES.join(", ")}` };
  }
  if (key.maxLevel !== undefined && levelOf(key.maxLevel) === undefined) {
    return { ok: false, field: "max_level", reason: `1-5 or a level name (${LEVEL_NAMES.join(", ")})` };
  }
  const tenant: CanonicalId | null = key.tenantId === null ? null : canonicalId(key.tenantId);
  if (tenant && !tenant.ok) return { ok: false, field: "tenant_id", reason: tenant.reason };
  if (key.name !== null && (key.name.length > KEY_NAME_MAX_LENGTH || CONTROL_CHARACTER.test(key.name))) {
    return {
      ok: false,
      field: "name",
      reason: `one line of at most ${KEY_NAME_MAX_LENGTH} characters, no control characters`,
    };
  }
  return { ok: true, principalId: principal.value, tenantId: tenant?.ok ? tenant.value : null };
}

/**
 * Every rule for a new key, for the admin API, the console and the operator CLI alike: each field's
 * shape (identifiers, role, level, name), then the rules between them. `creator` is null for an operator
 * with database access (no level bound). A refusal names the input field at fault, or none when the
 * creator's own level is what forbids it.
 */
export function checkNewKey(
  creator: Pick<Principal, "maxLevel"> | null,
  key: NewKeyRequest,
): { ok: true; key: NewKey } | NewKeyRefusal {
  const shape = newKeyShapeRefusal(key);
  if (!shape.ok) return shape;
  const role = key.role as Role;
  let agentIds: string[] | null = null;
  if (key.agentIds !== null) {
    if (role !== "agent") {
      return { ok: false, field: "agent_ids", reason: "only agent keys act for agents: omit it" };
    }
    // Folded like every id (domain/limits.ts): the key is created with the canonical patterns.
    const patterns = key.agentIds.map((pattern) => canonicalIdPattern(pattern, AGENT_PATTERNS_RULE));
    if (patterns.length === 0 || patterns.length > AGENT_IDS_MAX || patterns.some((pattern) => !pattern.ok)) {
      return { ok: false, field: "agent_ids", reason: AGENT_PATTERNS_RULE };
    }
    agentIds = patterns.flatMap((pattern) => (pattern.ok ? [pattern.value] : []));
  }
  const maxLevel = key.maxLevel === undefined ? DEFAULT_KEY_LEVEL[role] : levelOf(key.maxLevel);
  if (maxLevel === undefined) {
    return { ok: false, field: "max_level", reason: "required for role approver (1-5 or a level name)" };
  }
  if (role === "admin" && key.tenantId !== null) {
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
  return {
    ok: true,
    key: {
      principalId: shape.principalId,
      role,
      maxLevel,
      tenantId: shape.tenantId,
      agentIds,
      name: key.name,
    },
  };
}

/** "bot-*, billing-agent" (a form field, a CLI flag) as a list of agent ids; blank means none. */
export function agentIdsFromText(text: string | undefined): string[] | null {
  const ids = (text ?? "")
    .split(",")
    .map((id) => id.trim())
    .filter(Boolean);
  return ids.length > 0 ? ids : null;
}
