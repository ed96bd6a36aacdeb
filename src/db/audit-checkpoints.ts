// Statements of the audit chain's signed checkpoints and of its export (migrations 0014, 0015): one
// round trip each, bounded however long the chains grow.
import { sql } from "drizzle-orm";
import type { ChainRecord } from "../domain/audit-chain.ts";
import type { Checkpoint } from "../domain/audit-checkpoint.ts";
import type { Database } from "./client.ts";

export interface ChainHead {
  chain_id: string;
  seq: number;
  head_hash: string;
}

/**
 * The heads of at most `limit` chains that moved since their last checkpoint (or never had one),
 * longest-waiting first so a bounded run starves no chain. The chain ids are found by a loose index
 * scan of the primary key (one probe per chain, not a scan of every record), each head by a backward
 * probe, each chain's last checkpoint by its unique index.
 */
export async function movedChainHeads(db: Database, limit: number): Promise<ChainHead[]> {
  const result = await db.execute(sql`
    WITH RECURSIVE chains(chain_id) AS (
      (SELECT chain_id FROM audit_chain ORDER BY chain_id LIMIT 1)
      UNION ALL
      SELECT (SELECT a.chain_id FROM audit_chain a WHERE a.chain_id > c.chain_id ORDER BY a.chain_id LIMIT 1)
      FROM chains c WHERE c.chain_id IS NOT NULL
    )
    SELECT c.chain_id, h.seq, h.hash AS head_hash
    FROM chains c
    CROSS JOIN LATERAL (SELECT seq, hash FROM audit_chain a WHERE a.chain_id = c.chain_id ORDER BY seq DESC LIMIT 1) h
    LEFT JOIN LATERAL (
      SELECT k.seq, k.signed_at FROM audit_checkpoints k WHERE k.chain_id = c.chain_id ORDER BY k.seq DESC LIMIT 1
    ) k ON true
    WHERE c.chain_id IS NOT NULL AND (k.seq IS NULL OR k.seq < h.seq)
    ORDER BY k.signed_at ASC NULLS FIRST, c.chain_id
    LIMIT ${limit}`);
  return (result.rows as { chain_id: string; seq: string | number; head_hash: string }[]).map((row) => ({
    chain_id: row.chain_id,
    seq: Number(row.seq),
    head_hash: row.head_hash,
  }));
}

/** Stores signed checkpoints; one already stored for the same head and key is kept (overlapping runs). */
export async function insertCheckpoints(db: Database, checkpoints: readonly Checkpoint[]): Promise<number> {
  if (checkpoints.length === 0) return 0;
  const values = checkpoints.map(
    (c) =>
      sql`(${c.chain_id}, ${c.seq}::bigint, ${c.head_hash}, ${c.signed_at}::timestamptz, ${c.key_id}, ${c.signature})`,
  );
  const result = await db.execute(sql`
    INSERT INTO audit_checkpoints (chain_id, seq, head_hash, signed_at, key_id, signature)
    VALUES ${sql.join(values, sql`, `)}
    ON CONFLICT (chain_id, seq, key_id) DO NOTHING`);
  return result.rowCount ?? 0;
}

/** signed_at exactly as signed (toISOString: milliseconds, Z). */
const CHECKPOINT_COLUMNS = sql`chain_id, seq, head_hash,
  to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS signed_at, key_id, signature`;

type RawCheckpoint = Omit<Checkpoint, "seq"> & { seq: string | number };
const toCheckpoint = (row: RawCheckpoint): Checkpoint => ({ ...row, seq: Number(row.seq) });

/** A chain's part of an export: its records from seq `first` to `last` (null: to the head). */
export interface ChainSlice {
  chain_id: string;
  first: number;
  last: number | null;
}

export interface ExportFilter {
  chain?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/**
 * The next `limit` chains after `afterChain` with records in the filter's time window, each as a
 * contiguous seq range: from the first record created at or after `from` (in time order) to the last
 * created at or before `to`. Contiguous on purpose: created_at is the writer's transaction start, not
 * quite in seq order under concurrency, and a slice with holes would read as deleted records.
 */
export async function exportSlices(
  db: Database,
  filter: ExportFilter,
  afterChain: string,
  limit: number,
): Promise<ChainSlice[]> {
  const chains =
    filter.chain === undefined
      ? sql`WITH RECURSIVE chains(chain_id) AS (
          (SELECT chain_id FROM audit_chain WHERE chain_id > ${afterChain} ORDER BY chain_id LIMIT 1)
          UNION ALL
          SELECT (SELECT a.chain_id FROM audit_chain a WHERE a.chain_id > c.chain_id ORDER BY a.chain_id LIMIT 1)
          FROM chains c WHERE c.chain_id IS NOT NULL
        ), listed AS (SELECT chain_id FROM chains WHERE chain_id IS NOT NULL LIMIT ${limit})`
      : sql`WITH listed AS (SELECT ${filter.chain}::text AS chain_id WHERE ${filter.chain}::text > ${afterChain})`;
  const from = filter.from?.toISOString() ?? null;
  const to = filter.to?.toISOString() ?? null;
  const result = await db.execute(sql`
    ${chains}
    SELECT l.chain_id, lo.seq AS first, hi.seq AS last
    FROM listed l
    CROSS JOIN LATERAL (
      SELECT seq FROM audit_chain a WHERE a.chain_id = l.chain_id
        AND (${from}::timestamptz IS NULL OR a.created_at >= ${from}::timestamptz)
      ORDER BY ${from === null ? sql`a.seq` : sql`a.created_at, a.seq`} LIMIT 1
    ) lo
    LEFT JOIN LATERAL (
      SELECT seq FROM audit_chain a WHERE a.chain_id = l.chain_id AND a.created_at <= ${to}::timestamptz
      ORDER BY a.created_at DESC, a.seq DESC LIMIT 1
    ) hi ON true
    WHERE ${to}::timestamptz IS NULL OR hi.seq >= lo.seq
    ORDER BY l.chain_id`);
  return (result.rows as { chain_id: string; first: string; last: string | null }[]).map((row) => ({
    chain_id: row.chain_id,
    first: Number(row.first),
    last: to === null || row.last === null ? null : Number(row.last),
  }));
}

/**
 * One batch of a slice, in one round trip: up to `batch` records after seq `after`, and the
 * checkpoints of their seq range; when this batch ends an open-ended slice (`last` null), also the
 * checkpoints beyond its last record (a tail cut off after it was signed), at most `batch` of them.
 */
export async function exportBatch(
  db: Database,
  slice: ChainSlice,
  after: number,
  batch: number,
): Promise<{ records: ChainRecord[]; checkpoints: Checkpoint[] }> {
  const records = sql`SELECT seq FROM audit_chain WHERE chain_id = ${slice.chain_id} AND seq > ${after}
    AND (${slice.last}::bigint IS NULL OR seq <= ${slice.last}::bigint) ORDER BY seq LIMIT ${batch}`;
  const [recordRows, checkpointRows] = await db.batch([
    db.execute(sql`
      SELECT chain_id, seq, kind, source_table, source_id, content, prev_hash, hash,
        audit_chain_time(created_at) AS created_at
      FROM audit_chain WHERE chain_id = ${slice.chain_id} AND seq > ${after}
        AND (${slice.last}::bigint IS NULL OR seq <= ${slice.last}::bigint)
      ORDER BY seq LIMIT ${batch}`),
    db.execute(sql`
      WITH r AS (${records})
      SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints
      WHERE chain_id = ${slice.chain_id} AND seq > ${after}
        AND (seq <= (SELECT max(seq) FROM r)
             OR (${slice.last}::bigint IS NULL AND (SELECT count(*) FROM r) < ${batch}))
      ORDER BY seq, id LIMIT ${batch * 2}`),
  ]);
  return {
    records: (recordRows.rows as (Omit<ChainRecord, "seq"> & { seq: string | number })[]).map((row) => ({
      ...row,
      seq: Number(row.seq),
    })),
    checkpoints: (checkpointRows.rows as RawCheckpoint[]).map(toCheckpoint),
  };
}
