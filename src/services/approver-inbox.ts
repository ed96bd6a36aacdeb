// The approver's inbox as the console shows it: what a key may decide now, a page at a time (keyset
// cursors, stable while requests arrive and leave), searched and sorted, with counts over the whole
// match; and bulk decisions, each one the same decideRequest call a single decision makes.
import {
  INBOX_PAGE_SIZE,
  type InboxPosition,
  type InboxSearch,
  type InboxSort,
  listInbox,
} from "../db/approval-requests.ts";
import { edgesInto } from "../db/delegations.ts";
import type { ApprovalRequestRow } from "../db/schema.ts";
import { isSelfApproval, type Principal, readableTenant } from "../domain/access.ts";
import { onBehalfOf } from "../domain/delegation.ts";
import { fromBase64, toBase64Url } from "../domain/encoding.ts";
import { REQUEST_ID_PATTERN } from "../domain/ids.ts";
import { canonicalId, textProblem } from "../domain/limits.ts";
import { parseTimestamp } from "../domain/timestamps.ts";
import { ApiError, validationError } from "../lib/errors.ts";
import { assertCan } from "../lib/permissions.ts";
import { type DecisionInput, decideRequest } from "./approval-requests.ts";
import type { ServiceContext } from "./context.ts";

export const INBOX_SORTS: readonly InboxSort[] = ["deadline", "oldest", "newest"];

/** The longest search text taken: longer is a 400, not a slow scan. */
export const INBOX_SEARCH_MAX = 200;

/** The most requests one bulk decision takes. */
export const BULK_DECISION_MAX = 100;

export interface InboxQuery {
  tenantId?: string | undefined;
  skillId?: string | undefined;
  /** One open status, or both (pending and escalated). */
  status?: "pending" | "escalated" | undefined;
  sort?: InboxSort | undefined;
  /** A request id (exactly), or text found in the agent, skill, requester, justification or payload. */
  search?: string | undefined;
  /** Opaque cursors from a previous page: the page after `after`, or before `before`. */
  after?: string | undefined;
  before?: string | undefined;
  limit?: number | undefined;
}

export interface InboxPage {
  rows: ApprovalRequestRow[];
  counts: Record<"pending" | "escalated", number>;
  onBehalfOf: Map<string, string>;
  sort: InboxSort;
  /** Cursors of the neighbouring pages, null at either end. */
  next: string | null;
  previous: string | null;
  /** Whether this is a page after the first (the page links back to the first). */
  paged: boolean;
}

/** A bad query parameter: a 400 that names it (the console shows the message). */
function queryProblem(field: string, message: string): ApiError {
  return validationError([{ path: [field], message, code: "custom" }], "query", `${field}: ${message}`);
}

function idFilter(field: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const id = canonicalId(raw);
  if (id.ok) return id.value;
  throw queryProblem(field, id.reason);
}

/** The search box: a request id is looked up exactly, anything else is text (its LIKE wildcards literal). */
export function inboxSearchOf(raw: string | undefined): InboxSearch {
  const text = raw?.trim();
  if (!text) return {};
  if (text.length > INBOX_SEARCH_MAX) throw queryProblem("q", `at most ${INBOX_SEARCH_MAX} characters`);
  const problem = textProblem(text);
  if (problem) throw queryProblem("q", problem);
  return REQUEST_ID_PATTERN.test(text.toLowerCase()) ? { requestId: text.toLowerCase() } : { text };
}

/** A cursor: the sort it belongs to and the row's key in it, opaque to the page (base64url). */
export function encodeInboxCursor(sort: InboxSort, position: InboxPosition): string {
  return toBase64Url(new TextEncoder().encode(`${sort}|${position.at}|${position.id}`));
}

export function decodeInboxCursor(field: string, cursor: string, sort: InboxSort): InboxPosition {
  let parts: string[] = [];
  try {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new Error("not base64url");
    parts = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64(cursor)).split("|");
  } catch {
    throw queryProblem(field, "not a cursor the console issued");
  }
  const [cursorSort, at, id, ...rest] = parts;
  // The same parser and range as every time the API takes; the text itself is kept (microseconds).
  if (rest.length > 0 || !id || !REQUEST_ID_PATTERN.test(id) || !at || !parseTimestamp(at)) {
    throw queryProblem(field, "not a cursor the console issued");
  }
  if (cursorSort !== sort)
    throw queryProblem(field, "from another sort order: start again from the first page");
  return { at, id };
}

/**
 * What an approver may decide now: open requests in the key's tenant scope at or below its level,
 * never the ones it filed itself, in the asked order a page at a time, with the count of each open
 * status over everything matching (not just the page). Also the requests waiting for a principal it
 * stands in for by an active delegation (above its level too: there its decision is a note), marked
 * in `onBehalfOf` (request id → delegator); never a request outside its key's scope. One whose
 * requester it stands in for is never marked (domain/delegation.ts).
 */
export async function approverInbox(
  ctx: ServiceContext,
  principal: Principal,
  query: InboxQuery,
): Promise<InboxPage> {
  assertCan(principal, "requests:decide");
  const tenantId = idFilter("tenant", query.tenantId);
  const skillId = idFilter("skill", query.skillId);
  const scope = readableTenant(principal, tenantId);
  if (!scope.allowed) throw new ApiError("forbidden", scope.reason);
  const sort = query.sort ?? "deadline";
  const search = inboxSearchOf(query.search);
  if (query.after !== undefined && query.before !== undefined) {
    throw queryProblem("before", "give after or before, not both");
  }
  const after = query.after === undefined ? undefined : decodeInboxCursor("after", query.after, sort);
  const before = query.before === undefined ? undefined : decodeInboxCursor("before", query.before, sort);
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
    {
      principalId: principal.principalId,
      keyId: principal.keyId,
      maxLevel: principal.maxLevel,
      waitingFor: delegators,
    },
    { sort, limit: query.limit ?? INBOX_PAGE_SIZE, after, before },
    search,
  );
  const counts = { pending: 0, escalated: 0 };
  for (const { status, count } of found.counts)
    if (status === "pending" || status === "escalated") counts[status] = count;
  // Cursors come from the rows read, before the exact checks below drop any: the next page starts
  // where this read ended, so nothing is skipped.
  const cursorOf = (position: InboxPosition | undefined) =>
    position ? encodeInboxCursor(sort, position) : null;
  const first = found.positions.at(0);
  const last = found.positions.at(-1);
  const next = before ? cursorOf(last) : found.more ? cursorOf(last) : null;
  const previous = before ? (found.more ? cursorOf(first) : null) : after ? cursorOf(first) : null;
  const marks = new Map<string, string>();
  const rows = found.rows.filter((row) => {
    if (isSelfApproval(principal, row)) return false;
    const behalf = onBehalfOf(principal.principalId, row, edges, now);
    if (behalf.onBehalfOf) marks.set(row.id, behalf.onBehalfOf);
    return behalf.onBehalfOf !== null || row.requiredLevel <= principal.maxLevel;
  });
  return { rows, counts, onBehalfOf: marks, sort, next, previous, paged: Boolean(after || before) };
}

/** One request's result in a bulk decision: its new status, or why it was refused. */
export type BulkResult =
  | { id: string; ok: true; row: ApprovalRequestRow }
  | { id: string; ok: false; status: number; message: string };

/**
 * Decides each request in turn with the same decideRequest call (and so the same level, self-approval,
 * quorum, tenant-scope and already-decided rules) a single decision makes. One refusal does not stop
 * the rest: each request gets its own result. Ids are deduplicated; more than BULK_DECISION_MAX is a 400.
 */
export async function decideMany(
  ctx: ServiceContext,
  principal: Principal,
  ids: readonly string[],
  kind: "approve" | "reject",
  input: Pick<DecisionInput, "notes" | "via">,
  /**
   * Charges each decision after the first (the request itself paid for one) to the key's rate limit, so
   * a bulk post costs what as many single decisions would; once it refuses, the rest are refused too.
   */
  admit: () => Promise<void> = async () => {},
): Promise<BulkResult[]> {
  assertCan(principal, "requests:decide");
  const unique = [...new Set(ids.map((id) => id.trim()).filter((id) => id !== ""))];
  if (unique.length === 0) throw queryProblem("ids", "select at least one request");
  if (unique.length > BULK_DECISION_MAX) {
    throw queryProblem("ids", `at most ${BULK_DECISION_MAX} requests at once`);
  }
  const results: BulkResult[] = [];
  let limited: ApiError | undefined;
  for (const [index, id] of unique.entries()) {
    if (index > 0 && !limited) {
      try {
        await admit();
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 429) throw error;
        limited = error;
      }
    }
    if (limited) {
      results.push({ id, ok: false, status: 429, message: `Not decided: ${limited.message}` });
      continue;
    }
    if (!REQUEST_ID_PATTERN.test(id)) {
      results.push({ id, ok: false, status: 404, message: "No such request" });
      continue;
    }
    try {
      results.push({ id, ok: true, row: await decideRequest(ctx, principal, id, kind, input) });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error;
      // Not found and out of the key's tenant scope read alike (visibleRequest), as on the request's page.
      results.push(
        error.code === "not_found"
          ? { id, ok: false, status: 404, message: "No such request, or not one this key may see" }
          : { id, ok: false, status: error.status, message: error.message },
      );
    }
  }
  return results;
}
