// Verification of the tamper-evident audit trail (the audit_chain table, migration 0014), shared by
// the worker and the Node scripts: pure WebCrypto, no I/O. Records are fed in chain order, in as many
// batches as the caller likes (a database walk, an NDJSON file); each chain is checked on its own and
// its FIRST broken link is kept, named by chain, seq and reason.
//
// What a clean result proves: every record is the one written after its predecessor, none edited,
// removed or moved in between. What it cannot prove alone: that nothing was cut off after the last
// record, or that the whole tail was rewritten consistently; signed checkpoints (a later part of
// issue 17) anchor the head for that.
import { digestsEqual, sha256Hex } from "./encoding.ts";

/** prev_hash of the first record of every chain. */
export const GENESIS_HASH = "0".repeat(64);
/** The global chain: records with no tenant (keys without a tenant, switches, emergency operations). */
export const GLOBAL_CHAIN = "*";

/** One record as stored and exported. `content` is the exact text that was hashed. */
export interface ChainRecord {
  chain_id: string;
  seq: number;
  kind: string;
  source_table: string;
  source_id: string;
  content: string;
  prev_hash: string;
  hash: string;
  created_at?: string | undefined;
}

export type BreakReason =
  /** seq is not 1, 2, 3…: the records in between were deleted. */
  | "seq_gap"
  /** seq did not increase: records were reordered or duplicated. */
  | "seq_not_increasing"
  /** prev_hash is not the previous record's hash: a record before it was deleted, inserted or replaced. */
  | "prev_hash_mismatch"
  /** hash does not match the record's own fields: it was edited (or moved to another seq or chain). */
  | "hash_mismatch"
  /** Not a record at all (a field missing or of the wrong type). */
  | "malformed";

export interface ChainBreak {
  chain_id: string;
  seq: number;
  reason: BreakReason;
  message: string;
}

export interface ChainSummary {
  chain_id: string;
  /** Records read (all of them, also after a break). */
  records: number;
  /** The last record's seq and hash, as read. */
  head_seq: number;
  head_hash: string;
  /** The first broken link, if any. */
  broken?: ChainBreak | undefined;
}

export interface VerifyResult {
  ok: boolean;
  chains: ChainSummary[];
}

/** The hash a record must carry: SHA-256 (hex) of prev_hash, chain_id, seq and content, one per line. */
export function recordHash(prevHash: string, chainId: string, seq: number, content: string): Promise<string> {
  return sha256Hex(`${prevHash}\n${chainId}\n${seq}\n${content}`);
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A problem with the record's shape, or undefined when it is a well-formed record. */
function shapeProblem(record: ChainRecord): string | undefined {
  if (typeof record.chain_id !== "string" || record.chain_id === "") return "chain_id missing";
  if (!Number.isSafeInteger(record.seq) || record.seq < 1) return "seq is not a positive integer";
  if (typeof record.content !== "string") return "content is not text";
  if (typeof record.prev_hash !== "string" || !HEX64.test(record.prev_hash))
    return "prev_hash is not a hex SHA-256";
  if (typeof record.hash !== "string" || !HEX64.test(record.hash)) return "hash is not a hex SHA-256";
  return undefined;
}

interface ChainState {
  records: number;
  lastSeq: number;
  lastHash: string;
  broken?: ChainBreak | undefined;
}

/** Checks records chain by chain as they arrive; `result()` reports every chain seen. */
export class ChainVerifier {
  readonly #chains = new Map<string, ChainState>();

  /** Checks one record against the previous record of its chain (or the chain's start). */
  async add(record: ChainRecord): Promise<void> {
    const chainId = typeof record.chain_id === "string" ? record.chain_id : String(record.chain_id);
    let state = this.#chains.get(chainId);
    if (!state) {
      state = { records: 0, lastSeq: 0, lastHash: GENESIS_HASH };
      this.#chains.set(chainId, state);
    }
    state.records += 1;
    // After the first break the rest of the chain is read (and counted) but not judged: every later
    // link would be reported against an already untrustworthy predecessor.
    if (!state.broken) state.broken = await this.#check(chainId, state, record);
    state.lastSeq = Number.isSafeInteger(record.seq) ? record.seq : state.lastSeq;
    state.lastHash = typeof record.hash === "string" ? record.hash : state.lastHash;
  }

  async #check(chainId: string, previous: ChainState, record: ChainRecord): Promise<ChainBreak | undefined> {
    const at = (reason: BreakReason, message: string): ChainBreak => ({
      chain_id: chainId,
      seq: Number.isSafeInteger(record.seq) ? record.seq : previous.lastSeq + 1,
      reason,
      message,
    });
    const problem = shapeProblem(record);
    if (problem) return at("malformed", problem);
    const expected = previous.lastSeq + 1;
    if (record.seq <= previous.lastSeq) {
      return at(
        "seq_not_increasing",
        `seq ${record.seq} follows seq ${previous.lastSeq}: records were reordered or duplicated`,
      );
    }
    if (record.seq > expected) {
      const missing = record.seq - 1 === expected ? `${expected}` : `${expected}..${record.seq - 1}`;
      return at("seq_gap", `seq ${missing} missing before seq ${record.seq}: records were deleted`);
    }
    // The link is checked before the record's own hash: a record that is intact but follows a
    // deleted, inserted or replaced one is reported as that, not as edited.
    if (!digestsEqual(record.prev_hash, previous.lastHash)) {
      return at(
        "prev_hash_mismatch",
        record.seq === 1
          ? "the first record's prev_hash is not the genesis hash"
          : `prev_hash is not the hash of seq ${previous.lastSeq}: a record before it was deleted, inserted or replaced`,
      );
    }
    const computed = await recordHash(record.prev_hash, chainId, record.seq, record.content);
    if (!digestsEqual(computed, record.hash)) {
      return at("hash_mismatch", "the hash does not match the record's content: the record was edited");
    }
    return undefined;
  }

  result(): VerifyResult {
    const chains = [...this.#chains.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([chainId, state]) => ({
        chain_id: chainId,
        records: state.records,
        head_seq: state.lastSeq,
        head_hash: state.lastHash,
        ...(state.broken ? { broken: state.broken } : {}),
      }));
    return { ok: chains.every((chain) => !chain.broken), chains };
  }
}

/** Verifies records given in chain order (chains may be interleaved; each keeps its own order). */
export async function verifyRecords(records: Iterable<ChainRecord>): Promise<VerifyResult> {
  const verifier = new ChainVerifier();
  for (const record of records) await verifier.add(record);
  return verifier.result();
}

/**
 * Export lines (NDJSON). Every line names its type so later parts can add others (signed
 * checkpoints) beside the records; a verifier refuses a type it does not know rather than skip it.
 */
export type ExportLine =
  | { type: "export"; version: 1; generated_at: string; chains: string | null }
  | ({ type: "record" } & ChainRecord);

export function recordLine(record: ChainRecord): string {
  return JSON.stringify({ type: "record", ...record });
}

/** Verifies an export's lines (blank lines ignored); a line that is not a known type is a failure. */
export async function verifyExportLines(
  lines: Iterable<string> | AsyncIterable<string>,
): Promise<VerifyResult & { errors: string[] }> {
  const verifier = new ChainVerifier();
  const errors: string[] = [];
  let number = 0;
  for await (const line of lines) {
    number += 1;
    if (line.trim() === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      errors.push(`line ${number}: not JSON`);
      continue;
    }
    const type = parsed && typeof parsed === "object" ? (parsed as { type?: unknown }).type : undefined;
    if (type === "export") continue;
    if (type !== "record") {
      errors.push(`line ${number}: unknown line type ${JSON.stringify(type)}`);
      continue;
    }
    await verifier.add(parsed as ChainRecord);
  }
  const result = verifier.result();
  return { ...result, ok: result.ok && errors.length === 0, errors };
}

/** One line per chain, then the first broken link of each broken chain. */
export function describeResult(result: VerifyResult): string[] {
  const lines = result.chains.map(
    (chain) =>
      `chain ${JSON.stringify(chain.chain_id)}: ${chain.records} records, head seq ${chain.head_seq}` +
      (chain.broken ? " BROKEN" : " ok"),
  );
  for (const chain of result.chains) {
    if (chain.broken) {
      lines.push(
        `first broken link: chain ${JSON.stringify(chain.broken.chain_id)} seq ${chain.broken.seq} (${chain.broken.reason}): ${chain.broken.message}`,
      );
    }
  }
  return lines;
}
