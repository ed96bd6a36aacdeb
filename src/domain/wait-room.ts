// The rules of the wait room: where a waiting agent is held until its request changes, and how long a
// wait may go without reading the database. Pure: src/durable/wait-room.ts holds the waiters and the
// recent changes, src/services/waits.ts attaches waits to it and tells it about every transition.
//
// Why rooms per tenant shard (`room:<tenant>:<shard>`, 16 shards per tenant), not one object per
// request or per tenant:
// - a transition notifies one object per (tenant, shard) it touched: one call for an approval, at most
//   16 per tenant for an emergency bulk reject of thousands (per request it would be thousands);
// - a tenant's waiters spread over 16 single-threaded objects: 10,000 waiters of one tenant are about
//   625 per object, each re-attaching once per recheck period (15 s): ~42 calls/s per object, far
//   below what one object serves. A waiter is a pending call and a timer in memory (well under 1 KB).
// The open-wait bounds (src/domain/wait-gate.ts) cap how many waiters exist at all: 200 per tenant by
// default, 10,000 at most.

/** Shards per tenant: a request's room is fixed by its id. */
export const ROOM_SHARDS = 16;

/**
 * Default seconds between safety re-reads of a waited-on request (WAIT_RECHECK_SECONDS): the bound on
 * how late a lost notification can make a wake-up, and the database cost of a quiet wait (one read
 * per period).
 */
export const DEFAULT_WAIT_RECHECK_SECONDS = 15;
/** Default seconds between heartbeats on an event stream (EVENTS_HEARTBEAT_SECONDS). */
export const DEFAULT_EVENTS_HEARTBEAT_SECONDS = 15;

/**
 * How long a room remembers a change: longer than any single attachment (a recheck period, at most
 * the longest wait), so a waiter that read the request just before a change and attaches just after
 * its notification still finds it, even across an eviction of the room (the changes are in its storage).
 */
export const CHANGE_RETENTION_MS = 120_000;

/** What a transition tells the room of its request. */
export interface RequestChange {
  requestId: string;
  /** The request's version after the change (approval_requests.version, +1 per change). */
  version: number;
  status: string;
}

/** What a waiter learns: a newer version was committed, or its time is up with none seen. */
export type WakeAnswer = { changed: true; version: number } | { changed: false };

/** The Durable Object name of the room holding waiters on `requestId` of `tenantId`. */
export function roomName(tenantId: string, requestId: string): string {
  return `room:${tenantId}:${shardOf(requestId)}`;
}

/** FNV-1a over the id's UTF-16 code units: stable, cheap, and spreads random ids evenly. */
function shardOf(requestId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < requestId.length; i += 1) {
    hash ^= requestId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % ROOM_SHARDS;
}

/** Groups changed requests by the room that holds their waiters: one call per room. */
export function changesByRoom(
  rows: readonly { id: string; tenantId: string; version: number; status: string }[],
): Map<string, RequestChange[]> {
  const rooms = new Map<string, RequestChange[]>();
  for (const row of rows) {
    const name = roomName(row.tenantId, row.id);
    const changes = rooms.get(name) ?? [];
    changes.push({ requestId: row.id, version: row.version, status: row.status });
    rooms.set(name, changes);
  }
  return rooms;
}
