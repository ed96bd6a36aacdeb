// Verification of the tamper-evident audit trail (the audit_chain table, migration 0014), shared by
// the worker and the Node scripts: pure WebCrypto, no I/O. Records are fed in chain order, in as many
// batches as the caller likes (a database walk, an NDJSON file); each chain is checked on its own and
// its FIRST broken link is kept, named by chain, seq and reason.
//
// What a clean result proves: every record is the one written after its predecessor, none edited,
// removed or moved in between. What it cannot prove alone: that nothing was cut off after the last
// record, or that the whole tail was rewritten consistently; signed checkpoints (audit-checkpoint.ts)
// anchor the head for that: given the public key, each checkpoint must be validly signed and match
// the record at its seq, and one beyond the last record means the tail was cut off.
import {
  CHECKPOINT_ALGORITHM,
  type Checkpoint,
  checkpointSignatureValid,
  type VerifyingKey,
} from "./audit-checkpoint.ts";
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
  | "malformed"
  /** A checkpoint's seq is beyond the last record: records were cut off the end. */
  | "truncated"
  /** A checkpoint's head hash is not the hash of the record at its seq (or there is no such record). */
  | "checkpoint_mismatch"
  /** A checkpoint's signature is not valid for the key it names. */
  | "checkpoint_signature_invalid"
  /** A checkpoint names a key the verifier was not given. */
  | "checkpoint_unknown_key"
  /** A checkpoint comes after later records of its chain (exports put it right after its record). */
  | "checkpoint_out_of_order";

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
  /**
   * The first record's seq: 1, or more for a slice of an export (allowed only when the export says it
   * is one), whose start is then anchored only by that record's prev_hash (and by a later checkpoint).
   */
  first_seq: number;
  /** Checkpoint lines read for this chain. */
  checkpoints: number;
  /** The highest seq a checkpoint was checked against (signature and hash), if any. */
  checkpoint_seq?: number | undefined;
  /** The first checkpoint that failed (truncation, mismatch, bad signature), if any. */
  checkpoint_problem?: ChainBreak | undefined;
}

export interface VerifyResult {
  ok: boolean;
  chains: ChainSummary[];
  /** False when no public key was given: checkpoints were read but not checked. */
  checkpoints_checked: boolean;
}

export interface VerifyOptions {
  /** Keys to check checkpoints with (several during a rotation); none: checkpoints are not checked. */
  keys?: readonly VerifyingKey[] | undefined;
  /** Accept a chain starting after seq 1 (an export's time slice), its first prev_hash taken as given. */
  allowSliceStart?: boolean | undefined;
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
  firstSeq: number;
  lastSeq: number;
  lastHash: string;
  broken?: ChainBreak | undefined;
  checkpoints: number;
  checkpointSeq?: number | undefined;
  checkpointProblem?: ChainBreak | undefined;
  /** Checked checkpoints (signature valid) whose record has not been read yet, lowest seq first. */
  pending: Checkpoint[];
}

function checkpointShapeProblem(checkpoint: Checkpoint): string | undefined {
  if (typeof checkpoint.chain_id !== "string" || checkpoint.chain_id === "") return "chain_id missing";
  if (!Number.isSafeInteger(checkpoint.seq) || checkpoint.seq < 1) return "seq is not a positive integer";
  if (typeof checkpoint.head_hash !== "string" || !HEX64.test(checkpoint.head_hash))
    return "head_hash is not a hex SHA-256";
  for (const field of ["signed_at", "key_id", "signature"] as const) {
    if (typeof checkpoint[field] !== "string") return `${field} is not text`;
  }
  return undefined;
}

/** Checks records (and checkpoints) chain by chain as they arrive; `result()` reports every chain seen. */
export class ChainVerifier {
  readonly #chains = new Map<string, ChainState>();
  readonly #options: VerifyOptions;

  constructor(options: VerifyOptions = {}) {
    this.#options = options;
  }

  #state(chainId: string): ChainState {
    let state = this.#chains.get(chainId);
    if (!state) {
      state = { records: 0, firstSeq: 0, lastSeq: 0, lastHash: GENESIS_HASH, checkpoints: 0, pending: [] };
      this.#chains.set(chainId, state);
    }
    return state;
  }

  /** Checks one record against the previous record of its chain (or the chain's start). */
  async add(record: ChainRecord): Promise<void> {
    const chainId = typeof record.chain_id === "string" ? record.chain_id : String(record.chain_id);
    const state = this.#state(chainId);
    if (state.records === 0) {
      state.firstSeq = Number.isSafeInteger(record.seq) ? record.seq : 1;
      // A slice: its first record's predecessor is not in the file, so its prev_hash is taken as given.
      if (this.#options.allowSliceStart && state.firstSeq > 1 && typeof record.prev_hash === "string") {
        state.lastSeq = state.firstSeq - 1;
        state.lastHash = record.prev_hash;
      }
    }
    state.records += 1;
    // After the first break the rest of the chain is read (and counted) but not judged: every later
    // link would be reported against an already untrustworthy predecessor.
    if (!state.broken) state.broken = await this.#check(chainId, state, record);
    state.lastSeq = Number.isSafeInteger(record.seq) ? record.seq : state.lastSeq;
    state.lastHash = typeof record.hash === "string" ? record.hash : state.lastHash;
    // Checkpoints read before their record (the database walk feeds a batch's checkpoints first).
    while (state.pending.length > 0 && (state.pending[0]?.seq ?? 0) <= state.lastSeq) {
      const checkpoint = state.pending.shift() as Checkpoint;
      this.#match(state, checkpoint);
    }
  }

  /**
   * Checks one checkpoint: its signature by one of the keys, then its head against the record at its
   * seq (the last one read, or one still to come). One beyond the chain's last record is truncation.
   */
  async addCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const chainId =
      typeof checkpoint.chain_id === "string" ? checkpoint.chain_id : String(checkpoint.chain_id);
    const state = this.#state(chainId);
    state.checkpoints += 1;
    const keys = this.#options.keys;
    // Without a key nothing about a checkpoint can be trusted, so nothing is judged on it.
    if (!keys || keys.length === 0 || state.checkpointProblem) return;
    const fail = (reason: BreakReason, message: string) => {
      state.checkpointProblem = {
        chain_id: chainId,
        seq: Number.isSafeInteger(checkpoint.seq) ? checkpoint.seq : 0,
        reason,
        message,
      };
    };
    const shape = checkpointShapeProblem(checkpoint);
    if (shape) return fail("malformed", `checkpoint: ${shape}`);
    const key = keys.find((candidate) => candidate.keyId === checkpoint.key_id);
    if (!key) {
      return fail(
        "checkpoint_unknown_key",
        `the checkpoint at seq ${checkpoint.seq} is signed by key ${checkpoint.key_id}, not by a key given`,
      );
    }
    if (!(await checkpointSignatureValid(key, checkpoint))) {
      return fail(
        "checkpoint_signature_invalid",
        `the checkpoint at seq ${checkpoint.seq} does not carry a valid ${CHECKPOINT_ALGORITHM} signature by key ${key.keyId}: it was forged or altered`,
      );
    }
    if (state.records > 0 && checkpoint.seq < state.lastSeq) {
      return fail(
        "checkpoint_out_of_order",
        `the checkpoint at seq ${checkpoint.seq} comes after seq ${state.lastSeq}: the export is out of order`,
      );
    }
    if (state.records > 0 && checkpoint.seq === state.lastSeq) return this.#match(state, checkpoint);
    state.pending.push(checkpoint);
    state.pending.sort((a, b) => a.seq - b.seq);
  }

  #match(state: ChainState, checkpoint: Checkpoint): void {
    if (state.checkpointProblem) return;
    const problem = (reason: BreakReason, message: string): ChainBreak => ({
      chain_id: checkpoint.chain_id,
      seq: checkpoint.seq,
      reason,
      message,
    });
    if (checkpoint.seq !== state.lastSeq) {
      state.checkpointProblem = problem(
        "checkpoint_mismatch",
        `the checkpoint at seq ${checkpoint.seq} has no record at its seq (the records jump to seq ${state.lastSeq})`,
      );
    } else if (!digestsEqual(checkpoint.head_hash, state.lastHash)) {
      state.checkpointProblem = problem(
        "checkpoint_mismatch",
        `the checkpoint signed at ${checkpoint.signed_at} says seq ${checkpoint.seq} had hash ${checkpoint.head_hash}, the record there has ${state.lastHash}: records up to seq ${checkpoint.seq} were rewritten`,
      );
    } else {
      state.checkpointSeq = Math.max(state.checkpointSeq ?? 0, checkpoint.seq);
    }
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
      .map(([chainId, state]): ChainSummary => {
        let checkpointProblem = state.checkpointProblem;
        const beyond = state.pending[0];
        if (!checkpointProblem && beyond) {
          const from = state.lastSeq + 1;
          const cut = from === beyond.seq ? `seq ${from}` : `seq ${from}..${beyond.seq}`;
          checkpointProblem = {
            chain_id: chainId,
            seq: beyond.seq,
            reason: "truncated",
            message:
              state.records === 0
                ? `a checkpoint signed at ${beyond.signed_at} covers seq 1..${beyond.seq} but the chain has no records: they were cut off`
                : `a checkpoint signed at ${beyond.signed_at} covers seq ${beyond.seq} but the records end at seq ${state.lastSeq}: ${cut} were cut off the end`,
          };
        }
        return {
          chain_id: chainId,
          records: state.records,
          head_seq: state.lastSeq,
          head_hash: state.lastHash,
          ...(state.broken ? { broken: state.broken } : {}),
          first_seq: state.firstSeq,
          checkpoints: state.checkpoints,
          ...(state.checkpointSeq !== undefined ? { checkpoint_seq: state.checkpointSeq } : {}),
          ...(checkpointProblem ? { checkpoint_problem: checkpointProblem } : {}),
        };
      });
    return {
      ok: chains.every((chain) => !chain.broken && !chain.checkpoint_problem),
      chains,
      checkpoints_checked: (this.#options.keys?.length ?? 0) > 0,
    };
  }
}

/** Verifies records given in chain order (chains may be interleaved; each keeps its own order). */
export async function verifyRecords(
  records: Iterable<ChainRecord>,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const verifier = new ChainVerifier(options);
  for (const record of records) await verifier.add(record);
  return verifier.result();
}

/**
 * Export lines (NDJSON). Every line names its type so later parts can add others (signed
 * checkpoints) beside the records; a verifier refuses a type it does not know rather than skip it.
 */
export interface ExportHeader {
  type: "export";
  version: 1;
  generated_at: string;
  /** The one chain exported, or null for all. */
  chains: string | null;
  /** The time slice asked for (ISO), or null; with `from` a chain may start after seq 1. */
  from: string | null;
  to: string | null;
}

export type ExportLine =
  | ExportHeader
  | ({ type: "record" } & ChainRecord)
  | ({ type: "checkpoint"; algorithm: typeof CHECKPOINT_ALGORITHM } & Checkpoint);

/** The first line of an export (the CLI's and the API's). */
export function exportHeaderLine(header: Omit<ExportHeader, "type" | "version">): string {
  const line: ExportHeader = { type: "export", version: 1, ...header };
  return JSON.stringify(line);
}

export function recordLine(record: ChainRecord): string {
  return JSON.stringify({ type: "record", ...record });
}

/** A checkpoint line; an export puts it right after the record at its seq (or after the chain's last). */
export function checkpointLine(checkpoint: Checkpoint): string {
  return JSON.stringify({ type: "checkpoint", algorithm: CHECKPOINT_ALGORITHM, ...checkpoint });
}

/**
 * The lines of one batch of records (in chain order) with the checkpoints of the same chains and seq
 * range, each checkpoint right after the record at its seq; checkpoints beyond the batch's last record
 * of their chain come after it (the caller passes those only at the chain's end). No newlines.
 */
export function batchLines(records: readonly ChainRecord[], checkpoints: readonly Checkpoint[]): string[] {
  const byRecord = new Map<string, Checkpoint[]>();
  const key = (chainId: string, seq: number) => `${seq}\u0000${chainId}`;
  const lastSeq = new Map<string, number>();
  for (const record of records) lastSeq.set(record.chain_id, record.seq);
  for (const checkpoint of checkpoints) {
    // Past its chain's last record here (or for a chain with no record here): after that record.
    const last = lastSeq.get(checkpoint.chain_id);
    const at = last === undefined || checkpoint.seq > last ? Number.NaN : checkpoint.seq;
    const slot = key(checkpoint.chain_id, Number.isNaN(at) ? (last ?? 0) : at);
    const list = byRecord.get(slot) ?? [];
    list.push(checkpoint);
    byRecord.set(slot, list);
  }
  const lines: string[] = [];
  for (const record of records) {
    lines.push(recordLine(record));
    const slot = key(record.chain_id, record.seq);
    for (const checkpoint of byRecord.get(slot) ?? []) lines.push(checkpointLine(checkpoint));
    byRecord.delete(slot);
  }
  // Checkpoints of chains without a record in this batch (all their records gone): at the end.
  for (const list of byRecord.values()) for (const checkpoint of list) lines.push(checkpointLine(checkpoint));
  return lines;
}

/**
 * Verifies an export's lines (blank lines ignored); a line that is not a known type is a failure.
 * A header with `from` set declares a time slice: its chains may start after seq 1.
 */
export async function verifyExportLines(
  lines: Iterable<string> | AsyncIterable<string>,
  options: Pick<VerifyOptions, "keys"> = {},
): Promise<VerifyResult & { errors: string[] }> {
  let verifier: ChainVerifier | undefined;
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
    if (type === "export") {
      if (verifier) errors.push(`line ${number}: a second export header`);
      const from = (parsed as { from?: unknown }).from;
      verifier ??= new ChainVerifier({ ...options, allowSliceStart: typeof from === "string" });
      continue;
    }
    // No header (an older or hand-made file): a whole export, every chain from seq 1.
    verifier ??= new ChainVerifier(options);
    if (type === "record") await verifier.add(parsed as ChainRecord);
    else if (type === "checkpoint") await verifier.addCheckpoint(parsed as Checkpoint);
    else errors.push(`line ${number}: unknown line type ${JSON.stringify(type)}`);
  }
  const result = (verifier ?? new ChainVerifier(options)).result();
  return { ...result, ok: result.ok && errors.length === 0, errors };
}

/** What a chain's checkpoints say, for its summary line. */
function checkpointNote(chain: ChainSummary, checked: boolean): string {
  const notes: string[] = [];
  if (chain.first_seq > 1) {
    notes.push(
      `starts at seq ${chain.first_seq}, anchored only by its prev_hash` +
        (checked && chain.checkpoint_seq !== undefined ? " and the checkpoints" : ""),
    );
  }
  if (chain.checkpoints === 0) notes.push("no checkpoints");
  else if (!checked) notes.push(`${chain.checkpoints} checkpoints not checked (no public key)`);
  else if (chain.checkpoint_seq !== undefined) {
    notes.push(`${chain.checkpoints} checkpoints, signed head at seq ${chain.checkpoint_seq}`);
  }
  if (
    checked &&
    !chain.checkpoint_problem &&
    chain.head_seq > (chain.checkpoint_seq ?? 0) &&
    chain.records > 0
  ) {
    const from = Math.max(chain.checkpoint_seq ?? 0, chain.first_seq - 1) + 1;
    notes.push(
      `seq ${from === chain.head_seq ? from : `${from}..${chain.head_seq}`} not yet covered by a checkpoint`,
    );
  }
  return notes.length > 0 ? `; ${notes.join("; ")}` : "";
}

/** One line per chain, then the first broken link (and failed checkpoint) of each broken chain. */
export function describeResult(result: VerifyResult): string[] {
  const lines = result.chains.map(
    (chain) =>
      `chain ${JSON.stringify(chain.chain_id)}: ${chain.records} records, head seq ${chain.head_seq}` +
      (chain.broken || chain.checkpoint_problem ? " BROKEN" : " ok") +
      checkpointNote(chain, result.checkpoints_checked),
  );
  for (const chain of result.chains) {
    if (chain.broken) {
      lines.push(
        `first broken link: chain ${JSON.stringify(chain.broken.chain_id)} seq ${chain.broken.seq} (${chain.broken.reason}): ${chain.broken.message}`,
      );
    }
    const problem = chain.checkpoint_problem;
    if (problem) {
      lines.push(
        `checkpoint failed: chain ${JSON.stringify(problem.chain_id)} seq ${problem.seq} (${problem.reason}): ${problem.message}`,
      );
    }
  }
  if (!result.checkpoints_checked && result.chains.some((chain) => chain.checkpoints > 0)) {
    lines.push("warning: checkpoints not checked: pass --public-key to check their signatures");
  }
  return lines;
}
