// Approval requests as operations: file, read (optionally waiting for the decision), list, approve,
// reject, cancel, and reject many at once. Routes, the cron, the console and MCP all call these, so
// one set of tenant, identity and state-machine rules applies everywhere. Every status change goes
// through `transition` (one statement: status, history, outbox event, ledger, notification plan), is
// counted here, wakes the agents waiting on it (services/waits.ts) and has its notifications planned
// (services/notifications/planner.ts).
import { z } from "zod";
import {
  findByIdempotencyKey,
  insertRequest,
  type ListPosition,
  listInbox,
  listRequests,
  loadRequest,
  type RequestFilter,
  requestFilter,
} from "../db/approval-requests.ts";
import { edgesInto, loadRequestWithDelegations } from "../db/delegations.ts";
import type { ApprovalRequestRow, DelegationRow } from "../db/schema.ts";
import { applyTransitionWithDeliveries, type Transition } from "../db/transitions.ts";
import {
  approvalIdentity,
  can,
  inTenantScope,
  isSelfApproval,
  type Principal,
  readableTenant,
} from "../domain/access.ts";
import {
  type Action,
  type Change,
  candidateHash,
  decide,
  isOpen,
  OPEN_STATUSES,
  type PayloadEdit,
  type PlanRefusal,
  planRequest,
  type Refusal,
  type RequestState,
} from "../domain/approvals.ts";
import { onBehalfOf } from "../domain/delegation.ts";
import { canonicalJson, fromBase64, sha256Hex, toBase64Url } from "../domain/encoding.ts";
import { evaluate } from "../domain/evaluation.ts";
import { newCorrelationId, newRequestId, REQUEST_ID_PATTERN } from "../domain/ids.ts";
import { canonicalId } from "../domain/limits.ts";
import type { ReceiptSubject } from "../domain/receipts.ts";
import { parseTimestamp } from "../domain/timestamps.ts";
import {
  APPROVAL_STATUSES,
  type ApprovalEntry,
  type DecisionChannel,
  type PolicyType,
  WEBHOOK_EVENTS,
} from "../domain/vocabulary.ts";
import { MAX_WAIT_SECONDS } from "../domain/wait-gate.ts";
import { webhookUrlProblem } from "../domain/webhook-url.ts";
import { ApiError, invalidField, validationError } from "../lib/errors.ts";
import { assertCan } from "../lib/permissions.ts";
import {
  encryptSecret,
  importEncryptionKey,
  keyedFingerprint,
  SECRET_FORMAT_VERSION,
} from "../lib/secrets.ts";
import type { ServiceContext } from "./context.ts";
import { admitCall, admitPayload, canonicalIdOf, countDecision, policyToJudge } from "./evaluation.ts";
import { planAfterCommit } from "./notifications/planner.ts";
import { issueReceipt } from "./receipts.ts";
import { holdWait, nextChange, notifyWaiters, openWait } from "./waits.ts";
import { enqueueDeliveries } from "./webhooks/outbox.ts";

/** Longest a read may wait for a decision (src/domain/wait-gate.ts). */
export { MAX_WAIT_SECONDS };

/** A compare-and-swap that loses retries this often (re-reading each time) before giving up with 409. */
const MAX_CAS_ATTEMPTS = 5;
/** Filing re-reads the policy this often when it changes between the read and the insert. */
const MAX_CREATE_ATTEMPTS = 3;

export interface CreateCommand {
  policyType: PolicyType;
  skillId: string;
  tenantId: string;
  agentId: string | null;
  payload: Record<string, unknown>;
  requestedBy: string;
  justification: string | null;
  webhookUrl: string | null;
  webhookSecret: string | null;
  expiresInSeconds: number;
  /** Makes retries safe: the same key and body replay the first answer. */
  idempotencyKey: string | null;
}

/**
 * The answer to filing a request (M5: request_id, status, required_level, escalate_to, expires_at,
 * created_at), as the first call got it: stored with the request (create_response) and replayed
 * verbatim to a retry with the same Idempotency-Key. The one definition of that answer: the stored
 * copy is parsed with it, and src/schemas/requests.ts publishes it as CreatedApprovalRequest.
 */
export const CreatedRequest = z.object({
  request_id: z.string(),
  correlation_id: z.string(),
  status: z.enum(APPROVAL_STATUSES),
  required_level: z.number().int(),
  escalate_to: z.string().nullable(),
  expires_at: z.string(),
  created_at: z.string(),
  policy_version: z.number().int(),
});
export type CreatedRequest = z.infer<typeof CreatedRequest>;

/**
 * Applies a status change and counts it as nova_approval_actions_total{result}: the state machine's
 * result when given (approval_added, note_added, ...), else the new status.
 */
export async function transition(
  ctx: ServiceContext,
  change: Transition & { result?: string },
): Promise<ApprovalRequestRow[]> {
  const { rows, deliveryIds, planIds } = await applyTransitionWithDeliveries(ctx.db, change);
  enqueueDeliveries(ctx, deliveryIds);
  planAfterCommit(ctx, planIds);
  // After the commit: waiting agents wake now instead of at their next safety re-read.
  notifyWaiters(ctx, rows);
  if (rows.length > 0) {
    ctx.metrics.count(
      "nova_approval_actions_total",
      { result: change.result ?? change.toStatus ?? "approval_added" },
      rows.length,
    );
  }
  return rows;
}

async function sealWebhookSecret(ctx: ServiceContext, secret: string | null): Promise<string | null> {
  if (!secret) return null;
  const key = await importEncryptionKey(ctx.config.WEBHOOK_ENCRYPTION_KEY);
  if (!key) {
    ctx.log.error("webhook_encryption_key_invalid", { reason: "WEBHOOK_ENCRYPTION_KEY is not set" });
    throw new ApiError("internal_error", "This deployment cannot store webhook secrets; try again later");
  }
  return encryptSecret(secret, key);
}

/**
 * What an Idempotency-Key retry must match: the command, with the webhook secret replaced by a keyed
 * fingerprint so the stored hash never lets a database reader test guesses of the secret.
 */
async function idempotencyFingerprint(ctx: ServiceContext, command: CreateCommand): Promise<string> {
  const secret =
    command.webhookSecret && ctx.config.WEBHOOK_ENCRYPTION_KEY
      ? await keyedFingerprint(ctx.config.WEBHOOK_ENCRYPTION_KEY, command.webhookSecret)
      : null;
  return sha256Hex(canonicalJson({ ...command, webhookSecret: secret }));
}

/** Policy denies the action: nothing is filed, and the caller learns why (403 policy_denied). */
function policyRefusal(ctx: ServiceContext, command: CreateCommand, refusal: PlanRefusal): ApiError {
  countDecision(ctx, command, refusal.evaluation);
  ctx.log.warn("approval_request_refused", {
    tenant_id: command.tenantId,
    skill_id: command.skillId,
    agent_id: command.agentId,
  });
  return new ApiError(
    "policy_denied",
    `Policy denies this action, so no request was filed: ${refusal.reasons.join("; ")}`,
    { decision: "deny", reasons: refusal.reasons, violations: refusal.violations },
  );
}

/** The first answer to an Idempotency-Key, for a retry with the same body; another body is 409. */
function replay(
  row: ApprovalRequestRow,
  bodyHash: string | null,
): { created: CreatedRequest; replayed: true } {
  if (row.idempotencyBodyHash !== bodyHash) {
    throw new ApiError("conflict", "This Idempotency-Key was used with a different body");
  }
  return { created: CreatedRequest.parse(row.createResponse), replayed: true };
}

export async function createRequest(
  ctx: ServiceContext,
  principal: Principal,
  request: CreateCommand,
): Promise<{ created: CreatedRequest; replayed: boolean }> {
  const command = {
    ...request,
    ...admitCall(principal, request),
    requestedBy: canonicalIdOf("requested_by", request.requestedBy),
  };
  if (command.webhookUrl !== null) {
    const problem = webhookUrlProblem(command.webhookUrl, ctx.config.ALLOW_INSECURE_WEBHOOKS);
    if (problem) throw invalidField("webhook_url", problem);
  }
  if (command.webhookSecret && !command.webhookUrl) {
    throw invalidField("webhook_secret", "needs a webhook_url: send both, or neither");
  }
  const webhookSecretEncrypted = await sealWebhookSecret(ctx, command.webhookSecret);
  const bodyHash = command.idempotencyKey ? await idempotencyFingerprint(ctx, command) : null;
  const payloadHash = await sha256Hex(canonicalJson(command.payload));

  for (let attempt = 0; attempt < MAX_CREATE_ATTEMPTS; attempt++) {
    const policy = await policyToJudge(ctx, command, attempt > 0);
    const plan = planRequest(command, policy);
    if ("refused" in plan) {
      // A retry of a request filed before policy turned to deny still gets its first answer.
      const earlier = command.idempotencyKey
        ? await findByIdempotencyKey(ctx.db, principal.keyId, command.idempotencyKey)
        : undefined;
      if (!earlier) throw policyRefusal(ctx, command, plan);
      return replay(earlier, bodyHash);
    }
    const now = new Date();
    const id = newRequestId();
    const expiresAt = new Date(now.getTime() + command.expiresInSeconds * 1000);
    const created: CreatedRequest = {
      request_id: id,
      correlation_id: newCorrelationId(),
      status: plan.status,
      required_level: plan.requiredLevel,
      escalate_to: plan.escalateTo,
      expires_at: expiresAt.toISOString(),
      created_at: now.toISOString(),
      policy_version: policy.version,
    };
    const receipt =
      plan.status === "auto_approved"
        ? await issueReceipt(
            ctx,
            receiptSubject(
              {
                id,
                tenantId: command.tenantId,
                agentId: command.agentId,
                skillId: command.skillId,
                policyType: command.policyType,
                payloadHash,
                approvedPayloadHash: null,
                requiredLevel: plan.requiredLevel,
              },
              "auto_approved",
              [],
            ),
            now,
          )
        : null;
    const inserted = await insertRequest(
      ctx.db,
      {
        id,
        ...(receipt
          ? {
              receiptId: receipt.id,
              receiptJws: receipt.jws,
              receiptKid: receipt.kid,
              receiptNotAfter: receipt.notAfter,
            }
          : {}),
        correlationId: created.correlation_id,
        status: plan.status,
        statusHistoryJson: [
          {
            from_status: null,
            to_status: plan.status,
            actor: command.requestedBy,
            reason: plan.reason,
            timestamp: now.toISOString(),
          },
        ],
        policyType: command.policyType,
        skillId: command.skillId,
        tenantId: command.tenantId,
        agentId: command.agentId,
        payload: command.payload,
        payloadHash,
        requestedBy: command.requestedBy,
        createdByKeyId: principal.keyId,
        requesterPrincipalId: principal.principalId,
        justification: command.justification,
        requiredLevel: plan.requiredLevel,
        currentLevel: 0,
        requiredApprovals: plan.requiredApprovals,
        escalateTo: plan.escalateTo,
        escalationTimeoutSeconds: plan.escalationTimeoutSeconds,
        escalationDeadline:
          plan.status === "pending" && plan.escalationChain[0]
            ? new Date(now.getTime() + plan.escalationChain[0].after_seconds * 1000)
            : null,
        policySnapshot: plan.snapshot,
        estimatedCostCents: plan.costCents,
        webhookUrl: command.webhookUrl,
        webhookSecretEncrypted,
        webhookKeyVersion: webhookSecretEncrypted ? SECRET_FORMAT_VERSION : null,
        idempotencyKey: command.idempotencyKey,
        idempotencyBodyHash: bodyHash,
        createResponse: { ...created },
        expiresAt,
        createdAt: now,
        updatedAt: now,
        resolvedAt: plan.status === "auto_approved" ? now : null,
      },
      policy.version,
      command.requestedBy,
      plan.spendAssumptions,
    );
    if (inserted.outcome === "retry") continue;
    if (inserted.outcome === "existing") return replay(inserted.row, bodyHash);
    enqueueDeliveries(ctx, inserted.deliveryIds);
    planAfterCommit(ctx, inserted.planIds);
    ctx.metrics.count("nova_approval_requests_total", { status: plan.status });
    if (plan.status === "auto_approved")
      ctx.metrics.count("nova_approval_actions_total", { result: "auto_approved" });
    // On the request's one log line (a line of its own elsewhere, e.g. MCP's): a second console line
    // per request cost more CPU than the filing's own logic (docs/PERFORMANCE.md).
    ctx.annotate("approval_request_created", {
      approval_request_id: id,
      approval_status: plan.status,
      tenant_id: command.tenantId,
    });
    return { created, replayed: false };
  }
  throw new ApiError("conflict", "Policy changed repeatedly while filing the request; retry");
}

/**
 * What a receipt binds, from the request as the approval leaves it: the candidate payload (an
 * approver's edit when one stands, issue 27) and the approvers of that payload.
 */
function receiptSubject(
  row: Pick<
    ApprovalRequestRow,
    | "id"
    | "tenantId"
    | "agentId"
    | "skillId"
    | "policyType"
    | "payloadHash"
    | "approvedPayloadHash"
    | "requiredLevel"
  >,
  decision: ReceiptSubject["decision"],
  approvals: readonly ApprovalEntry[],
): ReceiptSubject {
  return {
    requestId: row.id,
    tenantId: row.tenantId,
    agentId: row.agentId,
    skillId: row.skillId,
    policyType: row.policyType,
    payloadSha256: candidateHash(row),
    filedPayloadSha256: row.payloadHash,
    requiredLevel: row.requiredLevel,
    decision,
    approvals,
  };
}

/** The request as a change leaves it, as far as a receipt reads it: an edit's payload and level. */
function afterChange<T extends Pick<ApprovalRequestRow, "approvedPayloadHash" | "requiredLevel">>(
  row: T,
  change: Change,
): T {
  const edit = change.payloadChange;
  if (!edit) return row;
  return { ...row, approvedPayloadHash: edit.approved?.hash ?? null, requiredLevel: edit.requiredLevel };
}

/** A request the principal may see, or 404: another tenant's request is not admitted to exist. */
async function visibleRequest(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
): Promise<ApprovalRequestRow> {
  const row = REQUEST_ID_PATTERN.test(id) ? await loadRequest(ctx.db, id) : undefined;
  return visibleOrMissing(principal, id, row);
}

function visibleOrMissing(
  principal: Principal,
  id: string,
  row: ApprovalRequestRow | undefined,
): ApprovalRequestRow {
  if (!row || !inTenantScope(principal, row.tenantId))
    throw new ApiError("not_found", `No approval request ${id}`);
  return row;
}

/**
 * Reads a request; with `waitSeconds`, holds until it is decided or the time is up. A request past
 * its expires_at reads `expired` at once (expired here through the transition path if the job has not
 * got to it yet), so an agent can rely on it as a refusal. A wait is charged, bounded and leased by
 * services/waits.ts (429 rate_limited beyond the bounds), only when there is something to wait for;
 * it sleeps in the request's wait room and reads the database only when woken (nextChange), and ends
 * early, with the request as last read, when the client goes away (ctx.signal).
 */
export async function getRequest(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
  waitSeconds = 0,
): Promise<ApprovalRequestRow> {
  const seconds = Math.min(waitSeconds, MAX_WAIT_SECONDS);
  const deadline = Date.now() + seconds * 1000;
  const read = async () => expireIfDue(ctx, await visibleRequest(ctx, principal, id));
  const first = await read();
  const until = (row: ApprovalRequestRow) => Math.min(deadline, row.expiresAt.getTime());
  const maxMs = until(first) - Date.now();
  if (!isOpen(first.status) || maxMs <= 0) return first;
  return holdWait(
    ctx,
    { principal, tenantId: first.tenantId, requestedSeconds: seconds, maxMs },
    async () => {
      let row = first;
      while (isOpen(row.status) && Date.now() < until(row)) {
        const next = await nextChange(ctx, { ...watchOf(row), until: until(row), read });
        if (!next) break;
        row = next;
      }
      return row;
    },
  );
}

/** An events stream's source: the states to send, and how to stop early (the client went away). */
export interface RequestStates {
  states: AsyncGenerator<ApprovalRequestRow, void>;
  /** Ends the states and releases the lease, at once even while they wait for a change. */
  close(): Promise<void>;
}

/** The longest one events stream stays open; the client reconnects (Last-Event-ID) to go on. */
export const MAX_STREAM_SECONDS = MAX_WAIT_SECONDS;

/**
 * A request's states for an events stream (GET .../requests/{id}/events): the current one unless the
 * client has seen it (`lastVersion`, from Last-Event-ID), then each change, until a terminal status,
 * MAX_STREAM_SECONDS, or the client leaving. `finished` when the client has already seen a terminal
 * state: nothing more will ever come. Tenant scope and 404 exactly as getRequest; an open request's
 * stream is charged, bounded and leased like any wait (429 before the stream starts).
 */
export async function watchRequest(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
  lastVersion: number | null,
): Promise<{ finished: true } | ({ finished: false } & RequestStates)> {
  const read = async () => expireIfDue(ctx, await visibleRequest(ctx, principal, id));
  const first = await read();
  const seen = lastVersion !== null && lastVersion >= first.version;
  if (seen && !isOpen(first.status)) return { finished: true };
  const deadline = Date.now() + MAX_STREAM_SECONDS * 1000;
  const until = (row: ApprovalRequestRow) => Math.min(deadline, row.expiresAt.getTime());
  const held = isOpen(first.status)
    ? await openWait(ctx, {
        principal,
        tenantId: first.tenantId,
        requestedSeconds: MAX_STREAM_SECONDS,
        maxMs: Math.max(0, until(first) - Date.now()),
      })
    : null;
  // Stops a wait in progress (close, also when the client goes: below): a generator's return()
  // would only run once it yields.
  const stop = new AbortController();
  async function* states(): AsyncGenerator<ApprovalRequestRow, void> {
    try {
      let row = first;
      if (!seen) yield row;
      while (isOpen(row.status) && Date.now() < until(row)) {
        const next = await nextChange(ctx, { ...watchOf(row), until: until(row), read, signal: stop.signal });
        if (!next) return;
        if (next.version !== row.version) yield next;
        row = next;
      }
    } finally {
      await held?.release();
    }
  }
  const iterator = states();
  // A generator never started skips its finally: the lease is released here too (release is once).
  const close = async () => {
    stop.abort();
    await iterator.return();
    await held?.release();
  };
  // A client gone before its stream ran (the answer dropped unread, never cancelled) leaves nothing
  // pulling the states: its signal closes them.
  if (ctx.signal?.aborted) void close();
  else ctx.signal?.addEventListener("abort", () => void close(), { once: true });
  return { finished: false, states: iterator, close };
}

function watchOf(row: ApprovalRequestRow) {
  return { tenantId: row.tenantId, requestId: row.id, version: row.version };
}

/** An open request past its expires_at becomes expired (compare-and-swap; a lost race re-reads). */
async function expireIfDue(ctx: ServiceContext, row: ApprovalRequestRow): Promise<ApprovalRequestRow> {
  const now = new Date();
  const expiry = decide(stateOf(row), { kind: "expire" }, now);
  if ("refused" in expiry) return row;
  const [expired] = await transition(ctx, {
    where: { id: row.id, version: row.version },
    ...expiry,
    before: row,
    at: now,
  });
  return expired ?? (await loadRequest(ctx.db, row.id)) ?? row;
}

export interface ListQuery extends Omit<RequestFilter, "tenantId"> {
  tenantId?: string | undefined;
  limit: number;
  offset: number;
  /** An opaque cursor from a previous page (`nextCursor`). */
  cursor?: string | undefined;
}

/** Newest first; a full page also returns the cursor of the next one. */
export async function searchRequests(
  ctx: ServiceContext,
  principal: Principal,
  query: ListQuery,
): Promise<{ rows: ApprovalRequestRow[]; nextCursor: string | null }> {
  const scope = readableTenant(principal, query.tenantId);
  if (!scope.allowed) throw new ApiError("forbidden", scope.reason);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const rows = await listRequests(ctx.db, { ...query, tenantId: scope.tenantId }, { ...query, after });
  const last = rows.at(-1);
  return { rows, nextCursor: last && rows.length === query.limit ? encodeCursor(last) : null };
}

export interface InboxQuery {
  tenantId?: string | undefined;
  skillId?: string | undefined;
  /** One open status, or both (pending and escalated). */
  status?: "pending" | "escalated" | undefined;
}

/**
 * What an approver may decide now: open requests in the key's tenant scope at or below its level,
 * never the ones it filed itself, soonest deadline first, with the count of each open status. Also
 * the requests waiting for a principal it stands in for by an active delegation (above its level too:
 * there its decision is a note), marked in `onBehalfOf` (request id → delegator); never a request
 * outside its key's scope. One whose requester it stands in for is never marked (domain/delegation.ts).
 */
export async function approverInbox(
  ctx: ServiceContext,
  principal: Principal,
  query: InboxQuery,
): Promise<{
  rows: ApprovalRequestRow[];
  counts: Record<"pending" | "escalated", number>;
  onBehalfOf: Map<string, string>;
}> {
  assertCan(principal, "requests:decide");
  // The console's filters take ids as the API does, folded to their canonical form. The console shows
  // the message, so it names the filter too.
  const filter = (field: string, raw: string | undefined) => {
    if (raw === undefined) return undefined;
    const id = canonicalId(raw);
    if (id.ok) return id.value;
    throw validationError(
      [{ path: [field], message: id.reason, code: "custom" }],
      "query",
      `${field}: ${id.reason}`,
    );
  };
  const tenantId = filter("tenant", query.tenantId);
  const skillId = filter("skill", query.skillId);
  const scope = readableTenant(principal, tenantId);
  if (!scope.allowed) throw new ApiError("forbidden", scope.reason);
  const now = new Date();
  const edges = await edgesInto(ctx.db, principal.principalId, now);
  // Everyone it may stand in for in some tenant: each row is then checked for its own tenant.
  const delegators = [...new Set(edges.map((edge) => edge.principalId))];
  const found = await listInbox(
    ctx.db,
    {
      tenantId: scope.tenantId,
      skillId,
      statuses: query.status ? [query.status] : ["pending", "escalated"],
    },
    principal.maxLevel,
    delegators,
  );
  const counts = { pending: 0, escalated: 0 };
  for (const { status, count } of found.counts)
    if (status === "pending" || status === "escalated") counts[status] = count;
  const marks = new Map<string, string>();
  const rows = found.rows.filter((row) => {
    if (isSelfApproval(principal, row)) return false;
    const behalf = onBehalfOf(principal.principalId, row, edges, now);
    if (behalf.onBehalfOf) marks.set(row.id, behalf.onBehalfOf);
    return behalf.onBehalfOf !== null || row.requiredLevel <= principal.maxLevel;
  });
  return { rows, counts, onBehalfOf: marks };
}

function encodeCursor(row: ApprovalRequestRow): string {
  return toBase64Url(new TextEncoder().encode(`${row.createdAt.toISOString()}|${row.id}`));
}

function decodeCursor(cursor: string): ListPosition {
  try {
    const [at, id] = new TextDecoder().decode(fromBase64(cursor)).split("|");
    // The same parser and range as every other time the API takes (a forged year 10000 is refused).
    const createdAt = parseTimestamp(at ?? "");
    if (!id || !REQUEST_ID_PATTERN.test(id) || !createdAt) throw new Error("bad cursor");
    return { createdAt, id };
  } catch {
    throw invalidField("cursor", "not a cursor this API issued", "query");
  }
}

function stateOf(row: ApprovalRequestRow): RequestState {
  return {
    status: row.status,
    requiredLevel: row.requiredLevel,
    requiredApprovals: row.requiredApprovals,
    currentLevel: row.currentLevel,
    approvals: row.approvalsJson,
    expiresAt: row.expiresAt,
    payloadHash: row.payloadHash,
    approvedPayloadHash: row.approvedPayloadHash,
  };
}

function refusalError(refusal: Refusal): ApiError {
  if (refusal.refused === "not_open") {
    return new ApiError("conflict", `The request is already ${refusal.status}`, { status: refusal.status });
  }
  if (refusal.refused === "expired") {
    return new ApiError("conflict", "The request expired before this decision", { status: "expired" });
  }
  if (refusal.refused === "edit_below_level") {
    return new ApiError(
      "forbidden",
      `Only an approver at the required level (${refusal.requiredLevel}) may approve with changes; your level is ${refusal.level}`,
      { reasons: ["edit_below_required_level"], required_level: refusal.requiredLevel, level: refusal.level },
    );
  }
  if (refusal.refused === "edit_above_level") {
    return new ApiError(
      "policy_denied",
      `Policy needs level ${refusal.editLevel} for the edited payload, above your level ${refusal.level}: not approved`,
      { reasons: ["edit_needs_higher_level"], required_level: refusal.editLevel, level: refusal.level },
    );
  }
  return new ApiError("conflict", "You have already approved this payload");
}

/**
 * Reads, decides, writes with a compare-and-swap on `version`; on a lost race, re-reads and decides
 * again. Two round trips when uncontended. An action on an expired request expires it and refuses.
 * `plan` checks the caller against the request as read (throwing a refusal) and says what it does.
 */
async function act(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
  plan: (row: ApprovalRequestRow, now: Date) => Action | Promise<Action>,
  read: (now: Date) => Promise<ApprovalRequestRow> = () => visibleRequest(ctx, principal, id),
): Promise<ApprovalRequestRow> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const now = new Date();
    const row = await read(now);
    const action = await plan(row, now);
    const state = stateOf(row);
    const outcome = decide(state, action, now);
    const where = { id, version: row.version };
    if ("refused" in outcome) {
      if (outcome.refused === "expired") {
        const expired = decide(state, { kind: "expire" }, now);
        if (!("refused" in expired)) {
          const [changed] = await transition(ctx, { where, ...expired, before: row, at: now });
          if (!changed) continue;
        }
      }
      throw refusalError(outcome);
    }
    // A final approval carries its receipt, signed before the statement and stored by it (or not at all).
    const receipt =
      outcome.toStatus === "approved"
        ? await issueReceipt(
            ctx,
            receiptSubject(afterChange(row, outcome), "approved", outcome.approvals),
            now,
          )
        : null;
    const [changed] = await transition(ctx, { where, ...outcome, receipt, before: row, at: now });
    if (changed) {
      ctx.annotate("approval_request_transition", {
        approval_request_id: id,
        approval_result: outcome.result,
        approval_actor: outcome.actor,
      });
      return changed;
    }
  }
  throw new ApiError("conflict", "The request kept changing under this action; read it and retry");
}

export interface DecisionInput {
  approverId?: string | undefined;
  level?: string | number | undefined;
  notes?: string | null | undefined;
  /** Set by the console and Slack entry points; the API's own decisions leave it out. */
  via?: DecisionChannel | undefined;
  /** Approve only: the payload as the approver changed it (issue 27); re-evaluated before it counts. */
  payload?: Record<string, unknown> | undefined;
  /** The candidate payload's hash the approver saw: another is a 409, so nobody approves a changed payload. */
  expectedPayloadSha256?: string | undefined;
}

/**
 * Approve or reject: identity and level come from the key, and the requester never decides. A
 * delegate of the principal the request waits for decides at its own level, recorded on that
 * principal's behalf; a delegate of the requester only ever as itself (domain/delegation.ts). The
 * request and the decider's delegations are read in one round trip.
 */
export async function decideRequest(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
  kind: "approve" | "reject",
  input: DecisionInput,
): Promise<ApprovalRequestRow> {
  const identity = approvalIdentity(principal, { approver_id: input.approverId, level: input.level });
  if (!identity.allowed) throw new ApiError("forbidden", identity.reason);
  let edges: DelegationRow[] = [];
  const read = async (now: Date) => {
    const loaded = REQUEST_ID_PATTERN.test(id)
      ? await loadRequestWithDelegations(ctx.db, id, principal.principalId, now)
      : { row: undefined, edges: [] };
    edges = loaded.edges;
    return visibleOrMissing(principal, id, loaded.row);
  };
  if (kind === "reject" && input.payload !== undefined) {
    throw invalidField("payload", "only an approve may change the payload; a reject carries none");
  }
  const edit = input.payload === undefined ? undefined : editJudge(ctx, input.payload);
  const plan = async (row: ApprovalRequestRow, now: Date): Promise<Action> => {
    if (isSelfApproval(principal, row)) {
      throw new ApiError("forbidden", "Whoever requested an action cannot decide it");
    }
    const expected = input.expectedPayloadSha256;
    if (expected !== undefined && expected !== candidateHash(row)) {
      throw new ApiError(
        "conflict",
        "The payload changed since you read it (expected_payload_sha256 does not match): read the request again",
        { field: "expected_payload_sha256", current_payload_sha256: candidateHash(row) },
      );
    }
    const behalf = onBehalfOf(principal.principalId, row, edges, now);
    return {
      kind,
      approverId: identity.approverId,
      level: identity.level,
      notes: input.notes ?? null,
      onBehalfOf: behalf.onBehalfOf,
      via: input.via,
      edit: edit ? await edit(row) : undefined,
    };
  };
  return act(ctx, principal, id, plan, read);
}

/**
 * Judges an approver's edit of a request's payload (issue 27) as filing would: the same limits, and the
 * engine POST /policy/eval uses, for the request's tenant, agent, skill and policy type, with the policy
 * read fresh. Policy denying it is 403 policy_denied with the reasons. No decision-log row is written:
 * the log records what agents asked, and this is an approver's change. Equal (canonically) to the
 * candidate payload it is no edit (undefined). Judged once per call: the request's tenant, agent, skill
 * and policy type never change, so a compare-and-swap retry reuses the judgment.
 */
function editJudge(
  ctx: ServiceContext,
  payload: Record<string, unknown>,
): (row: ApprovalRequestRow) => Promise<PayloadEdit | undefined> {
  admitPayload(payload);
  let judged: Promise<PayloadEdit> | undefined;
  const hashed = sha256Hex(canonicalJson(payload));
  return async (row) => {
    const hash = await hashed;
    if (hash === candidateHash(row)) return undefined;
    judged ??= (async () => {
      const call = {
        policyType: row.policyType,
        tenantId: row.tenantId,
        agentId: row.agentId,
        skillId: row.skillId,
      };
      const evaluation = evaluate(
        { ...call, payload, simulateCost: true },
        await policyToJudge(ctx, call, true),
      );
      ctx.log.info("approval_edit_evaluated", {
        request_id: row.id,
        decision: evaluation.decision,
        approval_level_required: evaluation.approvalLevelRequired,
      });
      if (evaluation.decision === "deny") {
        throw new ApiError(
          "policy_denied",
          `Policy denies the edited payload, so it was not approved: ${evaluation.reasons.join("; ")}`,
          { decision: "deny", reasons: evaluation.reasons, violations: evaluation.violations },
        );
      }
      return {
        payload,
        hash,
        requiredLevel: evaluation.approvalLevelRequired,
        costCents: evaluation.simulatedCostCents,
      };
    })();
    return judged;
  };
}

/** Cancel: the requester (by principal or by the key that filed it) or an admin. */
export async function cancelRequest(
  ctx: ServiceContext,
  principal: Principal,
  id: string,
  reason: string | null,
): Promise<ApprovalRequestRow> {
  return act(ctx, principal, id, (row) => {
    const requester = isSelfApproval(principal, row);
    if (!requester && !can(principal, "emergency")) {
      throw new ApiError("forbidden", "Only the requester or an admin may cancel a request");
    }
    return { kind: "cancel", actor: principal.principalId, reason };
  });
}

/** Rejects every open (pending or escalated) request matching the filter, each with history and event. */
export async function rejectOpenRequests(
  ctx: ServiceContext,
  principal: Principal,
  command: { reason: string } & Pick<RequestFilter, "tenantId" | "skillId" | "agentId" | "createdBefore">,
): Promise<ApprovalRequestRow[]> {
  if (command.tenantId !== undefined && !inTenantScope(principal, command.tenantId)) {
    throw new ApiError("forbidden", `This key may not act for tenant ${command.tenantId}`);
  }
  const rows = await transition(ctx, {
    where: requestFilter({
      ...command,
      tenantId: command.tenantId ?? principal.tenantId ?? undefined,
      statuses: OPEN_STATUSES,
    }),
    toStatus: "rejected",
    actor: principal.principalId,
    reason: command.reason,
    event: WEBHOOK_EVENTS.rejected,
    before: null,
    at: new Date(),
  });
  ctx.log.warn("bulk_reject", { rejected: rows.length, by: principal.principalId, reason: command.reason });
  return rows;
}
