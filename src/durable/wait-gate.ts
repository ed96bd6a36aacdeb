// The WaitGate Durable Object: leases on open waits, so the bound on waits per API key and per tenant
// holds across every isolate and location (an isolate's own count would not). One object per tenant
// (`tenant:<id>`), plus one per key that may read every tenant (`key:<id>`); the names and the rules
// are src/domain/wait-gate.ts, the callers src/services/waits.ts.
//
// acquire() grants a lease or refuses it with the limit in the way; release() ends it. Each lease also
// expires on its own (its wait's maximum plus a margin), so an isolate that crashed, or lost its
// release, cannot leak a slot: expired leases are never counted, and an alarm deletes them so an idle
// gate keeps nothing. The leases are in the object's SQLite storage, so an eviction or a restart
// forgets none. An object runs one call at a time, so a count and the insert after it cannot race.
//
// The waits themselves sleep in the WaitRoom (src/durable/wait-room.ts), which wakes them at a
// transition; the gate only counts them.
import { DurableObject } from "cloudflare:workers";
import { clampLeaseMs, type LeaseAnswer, type LeaseRequest, leaseRefusal } from "../domain/wait-gate.ts";

type Count = { n: number; earliest: number | null };

export class WaitGate extends DurableObject<unknown> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // ends_at: when the wait is due to end (Retry-After); expires_at: when the lease stops counting.
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS leases (
         id TEXT PRIMARY KEY,
         key_id TEXT NOT NULL,
         ends_at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL
       );
       CREATE INDEX IF NOT EXISTS leases_by_key ON leases (key_id, expires_at);`,
    );
  }

  /** A lease for one wait of `request.keyId`, or the limit that refuses it. */
  async acquire(request: LeaseRequest): Promise<LeaseAnswer> {
    const now = Date.now();
    this.sql.exec("DELETE FROM leases WHERE expires_at <= ?", now);
    const mine = this.count("WHERE key_id = ?", request.keyId);
    const all = this.count("");
    const refusal = leaseRefusal(
      request,
      { keyLeases: mine.n, allLeases: all.n, keyEarliestEnd: mine.earliest, allEarliestEnd: all.earliest },
      now,
    );
    if (refusal) return refusal;
    const leaseId = crypto.randomUUID();
    const ttl = clampLeaseMs(request.ttlMs);
    const expiresAt = now + ttl;
    this.sql.exec(
      "INSERT INTO leases (id, key_id, ends_at, expires_at) VALUES (?, ?, ?, ?)",
      leaseId,
      request.keyId,
      now + Math.min(clampLeaseMs(request.waitMs), ttl),
      expiresAt,
    );
    // The sweep: the alarm fires once the earliest lease has expired (an earlier alarm stays).
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > expiresAt) await this.ctx.storage.setAlarm(expiresAt);
    return { granted: true, leaseId };
  }

  /** Ends a lease; false when it had already expired or been released (harmless). */
  release(leaseId: string): boolean {
    return this.sql.exec("DELETE FROM leases WHERE id = ?", leaseId).rowsWritten > 0;
  }

  /** Deletes expired leases, and comes back when the next one expires. */
  override async alarm(): Promise<void> {
    this.sql.exec("DELETE FROM leases WHERE expires_at <= ?", Date.now());
    const next = this.sql
      .exec<{ next: number | null }>("SELECT min(expires_at) AS next FROM leases")
      .one().next;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  private count(where: string, ...bindings: string[]): Count {
    return this.sql
      .exec<Count>(`SELECT count(*) AS n, min(ends_at) AS earliest FROM leases ${where}`, ...bindings)
      .one();
  }
}
