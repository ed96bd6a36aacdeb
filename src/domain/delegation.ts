// Delegation (issue 25): a principal away names a delegate for a period. Pure rules: what a new
// delegation must satisfy, when one is in force, and what it means for deciding and notifying. A
// delegation never lends a level or a tenant scope: the delegate decides with its own key, and the
// record says on whose behalf. Chains are followed to a bounded depth and never around a cycle.
import type { Principal } from "./access.ts";
import { canonicalIdentifier } from "./limits.ts";

/** How long one delegation may last. */
export const MAX_DELEGATION_DAYS = 90;
/** How far in the past a start may be (clocks differ; "now" sent by a client arrives a little late). */
export const START_GRACE_MS = 60_000;
/** Delegations in force or still to come, per principal. */
export const MAX_OPEN_DELEGATIONS = 5;
/** A→B→C: C acts for A only when the chain is at most this long. */
export const MAX_CHAIN_DEPTH = 2;
export const DELEGATION_REASON_MAX_LENGTH = 500;

const DAY_MS = 24 * 3600 * 1000;

/** One delegation as the rules see it (a row of table delegations). */
export interface DelegationEdge {
  principalId: string;
  delegateId: string;
  /** null: in every tenant. */
  tenantId: string | null;
  startsAt: Date;
  endsAt: Date;
  revokedAt: Date | null;
}

/** In force at `at`: started, not ended, not revoked (a revocation ends it from that moment). */
export function isActive(edge: DelegationEdge, at: Date): boolean {
  const t = at.getTime();
  return (
    edge.startsAt.getTime() <= t &&
    t < edge.endsAt.getTime() &&
    (edge.revokedAt === null || t < edge.revokedAt.getTime())
  );
}

/** In force now or still to come: what counts toward MAX_OPEN_DELEGATIONS and the cycle check. */
export function isOpenDelegation(edge: DelegationEdge, now: Date): boolean {
  return edge.revokedAt === null && edge.endsAt.getTime() > now.getTime();
}

function coversTenant(edge: Pick<DelegationEdge, "tenantId">, tenantId: string): boolean {
  return edge.tenantId === null || edge.tenantId === tenantId;
}

const same = (a: string | null | undefined, b: string) =>
  a !== null && a !== undefined && canonicalIdentifier(a) === canonicalIdentifier(b);

export interface NewDelegation {
  principalId: string;
  delegateId: string;
  tenantId: string | null;
  startsAt: Date;
  endsAt: Date;
  reason: string | null;
}

export type DelegationField = "delegate_id" | "starts_at" | "ends_at" | "reason";
export type DelegationRefusal = { ok: false; field: DelegationField | null; reason: string; conflict?: true };

// C0 and C1 control characters (line breaks, escapes): a reason is one line people read.
const CONTROL_CHARACTER = /\p{Cc}/u;

/** Each field on its own: the period's bounds, not oneself, the reason's length. */
export function checkNewDelegation(delegation: NewDelegation, now: Date): { ok: true } | DelegationRefusal {
  if (same(delegation.delegateId, delegation.principalId)) {
    return { ok: false, field: "delegate_id", reason: "a principal cannot delegate to itself" };
  }
  const start = delegation.startsAt.getTime();
  const end = delegation.endsAt.getTime();
  if (start < now.getTime() - START_GRACE_MS) {
    return { ok: false, field: "starts_at", reason: "must not be in the past: omit it to start now" };
  }
  if (end <= start) return { ok: false, field: "ends_at", reason: "must be after starts_at" };
  if (end - start > MAX_DELEGATION_DAYS * DAY_MS) {
    return { ok: false, field: "ends_at", reason: `a delegation lasts at most ${MAX_DELEGATION_DAYS} days` };
  }
  const reason = delegation.reason;
  if (reason !== null && (reason.length > DELEGATION_REASON_MAX_LENGTH || CONTROL_CHARACTER.test(reason))) {
    return {
      ok: false,
      field: "reason",
      reason: `one line of at most ${DELEGATION_REASON_MAX_LENGTH} characters, no control characters`,
    };
  }
  return { ok: true };
}

function overlaps(
  a: Pick<DelegationEdge, "startsAt" | "endsAt">,
  b: Pick<DelegationEdge, "startsAt" | "endsAt">,
) {
  return a.startsAt.getTime() < b.endsAt.getTime() && b.startsAt.getTime() < a.endsAt.getTime();
}

function tenantsOverlap(a: string | null, b: string | null): boolean {
  return a === null || b === null || a === b;
}

/**
 * The rules a new delegation has against those already there: at most MAX_OPEN_DELEGATIONS open ones
 * per principal, and no cycle. A cycle is looked for among the open delegations whose period and
 * tenant overlap the new one's (a superset of those in force together with it: it may refuse more,
 * never less), of any length; such a refusal is a conflict (409).
 */
export function checkAgainstExisting(
  delegation: NewDelegation,
  existing: readonly DelegationEdge[],
  now: Date,
): { ok: true } | DelegationRefusal {
  const open = existing.filter((edge) => isOpenDelegation(edge, now));
  const own = open.filter((edge) => same(edge.principalId, delegation.principalId));
  if (own.length >= MAX_OPEN_DELEGATIONS) {
    return {
      ok: false,
      field: null,
      reason: `${delegation.principalId} already has ${MAX_OPEN_DELEGATIONS} delegations in force or to come: revoke one first`,
      conflict: true,
    };
  }
  const relevant = open.filter(
    (edge) => overlaps(edge, delegation) && tenantsOverlap(edge.tenantId, delegation.tenantId),
  );
  // The new edge principal → delegate closes a cycle when the principal is reachable from the delegate.
  const target = canonicalIdentifier(delegation.principalId);
  const seen = new Set<string>();
  const queue = [canonicalIdentifier(delegation.delegateId)];
  while (queue.length > 0) {
    const from = queue.shift() as string;
    if (from === target) {
      return {
        ok: false,
        field: "delegate_id",
        reason: `${delegation.delegateId} already stands in, directly or through others, for ${delegation.principalId} in this period: that would be a cycle`,
        conflict: true,
      };
    }
    if (seen.has(from)) continue;
    seen.add(from);
    for (const edge of relevant) {
      if (canonicalIdentifier(edge.principalId) === from) queue.push(canonicalIdentifier(edge.delegateId));
    }
  }
  return { ok: true };
}

/**
 * Walks delegations in force at `at` in `tenantId` from `start`, backwards (who `start` stands in
 * for) or forwards (who stands in for `start`), to MAX_CHAIN_DEPTH, never around a cycle. Each
 * principal reached maps to its depth (1: directly); `start` itself is never in the answer.
 */
function walk(
  start: string,
  edges: readonly DelegationEdge[],
  tenantId: string,
  at: Date,
  direction: "delegators" | "delegates",
): Map<string, number> {
  const inForce = edges.filter((edge) => isActive(edge, at) && coversTenant(edge, tenantId));
  const origin = canonicalIdentifier(start);
  const reached = new Map<string, number>();
  let frontier = [origin];
  for (let depth = 1; depth <= MAX_CHAIN_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const edge of inForce) {
      const [from, to] =
        direction === "delegators"
          ? [edge.delegateId, edge.principalId]
          : [edge.principalId, edge.delegateId];
      const target = canonicalIdentifier(to);
      if (!frontier.includes(canonicalIdentifier(from)) || target === origin || reached.has(target)) continue;
      reached.set(target, depth);
      next.push(target);
    }
    frontier = next;
  }
  return reached;
}

/** The principals `decider` stands in for at `at` in `tenantId`, directly or through a bounded chain. */
export function delegatorsOf(
  decider: string,
  edges: readonly DelegationEdge[],
  tenantId: string,
  at: Date,
): Map<string, number> {
  return walk(decider, edges, tenantId, at, "delegators");
}

/** Who stands in for `principal` at `at` in `tenantId` (to notify in its place), chain bounded. */
export function delegatesOf(
  principal: string,
  edges: readonly DelegationEdge[],
  tenantId: string,
  at: Date,
): string[] {
  return [...walk(principal, edges, tenantId, at, "delegates").keys()];
}

/** What a request says about who it waits for and who asked for it. */
export interface WaitingRequest {
  tenantId: string;
  /** The principal it waits for (the policy's escalate_to), if any. */
  escalateTo: string | null;
  requestedBy: string;
  requesterPrincipalId?: string | null | undefined;
}

/**
 * On whose behalf a decision is made. `onBehalfOf`: the principal the request waits for, when the
 * decider stands in for it (the decision is still made at the decider's own level, in its own scope).
 * `requester`: set when the decider stands in for the requester; then the decision is never on anyone's
 * behalf (onBehalfOf null), and the engine should not tell the decider in the requester's place.
 */
export interface OnBehalf {
  onBehalfOf: string | null;
  requester: string | null;
}

/**
 * Whether `decider`'s decision on `request` is made on someone's behalf. Delegation never changes
 * who may decide: a decider who stands in for the requester (requested_by, or the principal of the key
 * that filed it) decides, if at all, only as itself, exactly as it could with no delegation, and is
 * never recorded as acting for anyone: delegation cannot turn a decision into the requester's own. A
 * refusal here instead would let a requester shut out the approvers it chose as delegates.
 */
export function onBehalfOf(
  decider: string,
  request: WaitingRequest,
  edges: readonly DelegationEdge[],
  at: Date,
): OnBehalf {
  const delegators = delegatorsOf(decider, edges, request.tenantId, at);
  for (const requester of [request.requestedBy, request.requesterPrincipalId]) {
    if (requester && delegators.has(canonicalIdentifier(requester))) {
      return { onBehalfOf: null, requester: canonicalIdentifier(requester) };
    }
  }
  const waitingFor = request.escalateTo;
  const standsIn =
    waitingFor && !same(waitingFor, decider) && delegators.has(canonicalIdentifier(waitingFor));
  return { onBehalfOf: standsIn ? canonicalIdentifier(waitingFor) : null, requester: null };
}

/**
 * Whether a key may see a delegation: an admin every one in its scope, anyone else the ones naming
 * its principal (as principal or delegate). A tenant-scoped key sees its tenant's, and every-tenant
 * ones only when it is party to them: another tenant's delegations do not exist for it.
 */
export function delegationVisible(
  caller: Pick<Principal, "role" | "principalId" | "tenantId">,
  delegation: Pick<DelegationEdge, "principalId" | "delegateId" | "tenantId">,
): boolean {
  const party = delegation.principalId === caller.principalId || delegation.delegateId === caller.principalId;
  if (caller.role !== "admin" && !party) return false;
  if (caller.tenantId === null) return true;
  return delegation.tenantId === caller.tenantId || (delegation.tenantId === null && party);
}
