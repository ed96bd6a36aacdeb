// Delegations as operations (issue 25): create, list, read and revoke, audited; and what the rest of
// the service asks of them: whom a decider stands in for on a request (onBehalfOf, used by
// decideRequest and the inbox) and who stands in for a principal (activeDelegates, for the
// notification engine). The rules are in domain/delegation.ts; the statements in db/delegations.ts.
import {
  type DelegationFilter,
  type DelegationSummary,
  edgesFrom,
  edgesInto,
  findDelegation,
  insertDelegation,
  listDelegations,
  readCreationGraph,
  revokeDelegation as revokeDelegationRow,
  toDelegationSummary,
} from "../db/delegations.ts";
import type { DelegationRow } from "../db/schema.ts";
import type { Principal } from "../domain/access.ts";
import {
  checkAgainstExisting,
  checkNewDelegation,
  type DelegationRefusal,
  delegatesOf,
  delegationVisible,
  type OnBehalf,
  onBehalfOf as onBehalfOfRule,
  type WaitingRequest,
} from "../domain/delegation.ts";
import { ApiError, validationError } from "../lib/errors.ts";
import { assertCan } from "../lib/permissions.ts";
import type { ServiceContext } from "./context.ts";

/** A creation that loses the race to another creation re-reads and re-checks this often. */
const MAX_CREATE_ATTEMPTS = 3;

export interface NewDelegationCommand {
  /** Someone else's delegation: admins only. undefined: the caller's own principal. */
  principalId?: string | undefined;
  delegateId: string;
  /** undefined: now. */
  startsAt?: Date | undefined;
  endsAt: Date;
  /** undefined: the key's tenant, or every tenant for an unscoped key. */
  tenantId?: string | null | undefined;
  reason?: string | null | undefined;
}

function refusalError(refusal: DelegationRefusal): ApiError {
  if (refusal.conflict) return new ApiError("conflict", refusal.reason);
  if (!refusal.field) return new ApiError("forbidden", refusal.reason);
  return validationError(
    [{ path: [refusal.field], message: refusal.reason, code: "custom" }],
    "json",
    `${refusal.field}: ${refusal.reason}`,
  );
}

/** Whose delegation it is and for which tenant: the caller's own, and a scoped key only its tenant. */
function subjectOf(
  caller: Principal,
  command: NewDelegationCommand,
): { principalId: string; tenantId: string | null } {
  const principalId = command.principalId ?? caller.principalId;
  if (principalId !== caller.principalId && caller.role !== "admin") {
    throw new ApiError(
      "forbidden",
      `A delegation is made by its own principal: send principal_id "${caller.principalId}" or omit it`,
    );
  }
  if (caller.tenantId === null) return { principalId, tenantId: command.tenantId ?? null };
  if (command.tenantId !== undefined && command.tenantId !== caller.tenantId) {
    throw new ApiError("forbidden", `This key may only delegate within tenant ${caller.tenantId}`);
  }
  return { principalId, tenantId: caller.tenantId };
}

/** Creates a delegation (audited in the same statement) once every rule holds. */
export async function createDelegation(
  ctx: ServiceContext,
  caller: Principal,
  command: NewDelegationCommand,
): Promise<DelegationSummary> {
  assertCan(caller, "delegations:manage");
  const subject = subjectOf(caller, command);
  const now = new Date();
  const delegation = {
    ...subject,
    delegateId: command.delegateId,
    startsAt: command.startsAt ?? now,
    endsAt: command.endsAt,
    reason: command.reason ?? null,
  };
  const shape = checkNewDelegation(delegation, now);
  if (!shape.ok) throw refusalError(shape);
  for (let attempt = 0; attempt < MAX_CREATE_ATTEMPTS; attempt++) {
    const graph = await readCreationGraph(ctx.db, delegation.principalId, delegation.delegateId, now);
    const rules = checkAgainstExisting(delegation, graph.edges, now);
    if (!rules.ok) throw refusalError(rules);
    const row = await insertDelegation(ctx.db, { ...delegation, createdBy: caller.principalId }, graph, {
      principalId: caller.principalId,
      keyId: caller.keyId,
      requestId: ctx.requestId,
    });
    if (row) {
      ctx.log.info("delegation_created", {
        delegation_id: row.id,
        principal_id: row.principalId,
        delegate_id: row.delegateId,
        tenant_id: row.tenantId,
      });
      return toDelegationSummary(row);
    }
  }
  throw new ApiError("conflict", "Delegations kept changing while this one was checked; retry");
}

export interface DelegationQuery {
  active?: boolean | undefined;
  principalId?: string | undefined;
  delegateId?: string | undefined;
  limit: number;
  offset: number;
}

/** An approver's own delegations (as principal or delegate); an admin's every one in its scope. */
export async function searchDelegations(
  ctx: ServiceContext,
  caller: Principal,
  query: DelegationQuery,
): Promise<DelegationSummary[]> {
  assertCan(caller, "delegations:manage");
  const filter: DelegationFilter = {
    caller: caller.principalId,
    partyOnly: caller.role !== "admin",
    scopeTenant: caller.tenantId ?? undefined,
    principalId: query.principalId,
    delegateId: query.delegateId,
    activeAt: query.active ? new Date() : undefined,
  };
  return (await listDelegations(ctx.db, filter, query)).map(toDelegationSummary);
}

/** A delegation the caller may see, or 404: one it may not see is not admitted to exist. */
async function visibleDelegation(ctx: ServiceContext, caller: Principal, id: number): Promise<DelegationRow> {
  assertCan(caller, "delegations:manage");
  const row = await findDelegation(ctx.db, id);
  if (!row || !delegationVisible(caller, row)) throw new ApiError("not_found", `No delegation ${id}`);
  return row;
}

export async function getDelegation(
  ctx: ServiceContext,
  caller: Principal,
  id: number,
): Promise<DelegationSummary> {
  return toDelegationSummary(await visibleDelegation(ctx, caller, id));
}

/** Revokes a delegation at once (idempotent, audited once): its principal or an admin, never the delegate. */
export async function revokeDelegation(
  ctx: ServiceContext,
  caller: Principal,
  id: number,
): Promise<DelegationSummary> {
  const found = await visibleDelegation(ctx, caller, id);
  if (caller.role !== "admin" && found.principalId !== caller.principalId) {
    throw new ApiError("forbidden", "Only the principal who delegated, or an admin, may revoke a delegation");
  }
  const row = await revokeDelegationRow(ctx.db, id, {
    principalId: caller.principalId,
    keyId: caller.keyId,
    requestId: ctx.requestId,
  });
  if (!row) throw new ApiError("not_found", `No delegation ${id}`);
  ctx.log.info("delegation_revoked", { delegation_id: id, by: caller.principalId });
  return toDelegationSummary(row);
}

/**
 * Who stands in for `principalId` at `at` in `tenantId`, directly or through a chain of at most
 * MAX_CHAIN_DEPTH: whom the notification engine tells in its place (and besides it).
 */
export async function activeDelegates(
  ctx: ServiceContext,
  principalId: string,
  tenantId: string,
  at: Date = new Date(),
): Promise<string[]> {
  return delegatesOf(principalId, await edgesFrom(ctx.db, principalId, at), tenantId, at);
}

/**
 * Whether `principal`'s decision on `request` would be on someone's behalf, and whether it stands in
 * for the requester (then never on anyone's behalf; domain/delegation.ts onBehalfOf). One round trip.
 */
export async function onBehalfOf(
  ctx: ServiceContext,
  principal: Pick<Principal, "principalId">,
  request: WaitingRequest,
  at: Date = new Date(),
): Promise<OnBehalf> {
  return onBehalfOfRule(
    principal.principalId,
    request,
    await edgesInto(ctx.db, principal.principalId, at),
    at,
  );
}
