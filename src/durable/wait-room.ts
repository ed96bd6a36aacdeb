// The WaitRoom Durable Object: holds agents waiting for a request to change, and wakes them when a
// transition commits. One object per tenant shard (`room:<tenant>:<shard>`, src/domain/wait-room.ts
// says why); src/services/waits.ts attaches waits and notifies after every transition.
//
// attach() answers at once when the room already knows a version newer than the waiter's, otherwise
// when notify() brings one, or with { changed: false } after `timeoutMs` (the waiter then re-reads the
// database: the safety re-read). notify() records each change in the object's SQLite storage before
// waking anyone, so a waiter that read the request just before a change, and attaches just after its
// notification, still learns of it, even when the object was evicted or restarted in between. Changes
// are kept CHANGE_RETENTION_MS; an alarm deletes older ones, so an idle room keeps nothing.
//
// The room is a hint, never the truth: a waiter always re-reads the request from Postgres before it
// answers, so a lost, late or duplicated notification can delay a wake-up (to the recheck period),
// never change an answer.
import { DurableObject } from "cloudflare:workers";
import { CHANGE_RETENTION_MS, type RequestChange, type WakeAnswer } from "../domain/wait-room.ts";

/** The longest one attachment may last, whatever a caller asks: the longest wait (55 s) and a margin. */
const MAX_ATTACH_MS = 60_000;

interface Waiter {
  version: number;
  wake(answer: WakeAnswer): void;
}

export class WaitRoom extends DurableObject<unknown> {
  private readonly sql: SqlStorage;
  /** Waiters by request id: in memory only (a waiter is a pending call, it cannot outlive the object). */
  private readonly waiters = new Map<string, Set<Waiter>>();

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS changes (
         request_id TEXT PRIMARY KEY,
         version INTEGER NOT NULL,
         status TEXT NOT NULL,
         expires_at INTEGER NOT NULL
       );
       CREATE INDEX IF NOT EXISTS changes_by_expiry ON changes (expires_at);`,
    );
  }

  /**
   * Holds until `requestId` has a version newer than `version`, or `timeoutMs` passes. A newer version
   * already recorded answers at once.
   */
  attach(requestId: string, version: number, timeoutMs: number): Promise<WakeAnswer> {
    const known = this.knownVersion(requestId);
    if (known !== null && known > version) return Promise.resolve({ changed: true, version: known });
    const ms = Number.isFinite(timeoutMs) ? Math.min(MAX_ATTACH_MS, Math.max(0, timeoutMs)) : 0;
    return new Promise((resolve) => {
      const waiters = this.waiters.get(requestId) ?? new Set<Waiter>();
      this.waiters.set(requestId, waiters);
      const waiter: Waiter = {
        version,
        wake: (answer) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          if (waiters.size === 0 && this.waiters.get(requestId) === waiters) this.waiters.delete(requestId);
          resolve(answer);
        },
      };
      const timer = setTimeout(() => waiter.wake({ changed: false }), ms);
      waiters.add(waiter);
    });
  }

  /** Records the changes, then wakes every waiter that has not seen them. Returns how many woke. */
  async notify(changes: readonly RequestChange[]): Promise<number> {
    const now = Date.now();
    const expiresAt = now + CHANGE_RETENTION_MS;
    for (const change of changes) {
      // Keeps the newest version: notifications of one request may arrive out of order.
      this.sql.exec(
        `INSERT INTO changes (request_id, version, status, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (request_id) DO UPDATE SET
           version = max(changes.version, excluded.version),
           status = CASE WHEN excluded.version >= changes.version THEN excluded.status ELSE changes.status END,
           expires_at = excluded.expires_at`,
        change.requestId,
        change.version,
        change.status,
        expiresAt,
      );
    }
    let woken = 0;
    for (const change of changes) {
      for (const waiter of [...(this.waiters.get(change.requestId) ?? [])]) {
        if (waiter.version >= change.version) continue;
        waiter.wake({ changed: true, version: change.version });
        woken += 1;
      }
    }
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > expiresAt) await this.ctx.storage.setAlarm(expiresAt);
    return woken;
  }

  /** Deletes the changes past their retention, and comes back when the next one is. */
  override async alarm(): Promise<void> {
    this.sql.exec("DELETE FROM changes WHERE expires_at <= ?", Date.now());
    const next = this.sql
      .exec<{ next: number | null }>("SELECT min(expires_at) AS next FROM changes")
      .one().next;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  private knownVersion(requestId: string): number | null {
    const row = this.sql
      .exec<{ version: number }>(
        "SELECT version FROM changes WHERE request_id = ? AND expires_at > ?",
        requestId,
        Date.now(),
      )
      .toArray()[0];
    return row?.version ?? null;
  }
}
