// Signed checkpoints of the audit chains and the audit export (issue 17). The cron calls
// writeCheckpoints every minute: each chain whose head moved since its last checkpoint gets one, signed
// with the AUDIT_SIGNING_KEY secret (Ed25519), at most CHECKPOINT_CHAINS_PER_RUN chains a run
// (longest-waiting first; the next minute takes the rest). Without the secret checkpoints are skipped,
// logged once per run, and nothing else changes. The export streams a tenant's or every chain as
// NDJSON in bounded batches, in the format `npm run audit -- export` writes and `verify` reads.
import {
  type ChainSlice,
  type ExportFilter,
  exportBatch,
  exportSlices,
  insertCheckpoints,
  movedChainHeads,
} from "../db/audit-checkpoints.ts";
import { batchLines, exportHeaderLine } from "../domain/audit-chain.ts";
import {
  importSigningKey,
  publishedKey,
  type SigningKey,
  signCheckpoint,
} from "../domain/audit-checkpoint.ts";
import type { ServiceContext } from "./context.ts";

export const CHECKPOINT_CHAINS_PER_RUN = 200;
export const EXPORT_BATCH = 500;
/** Chains listed per statement while exporting every chain. */
const EXPORT_CHAINS_PER_QUERY = 100;

// The imported key, per isolate: importing costs two WebCrypto imports and an export, every minute.
let cached: { secret: string; key: Promise<SigningKey> } | undefined;

/** The signing key from AUDIT_SIGNING_KEY, or undefined when none is configured. */
export function auditSigningKey(ctx: Pick<ServiceContext, "config">): Promise<SigningKey> | undefined {
  const secret = ctx.config.AUDIT_SIGNING_KEY;
  if (!secret) return undefined;
  if (cached?.secret !== secret) {
    const key = importSigningKey(secret);
    // A bad secret fails each run, not once for the isolate's life: the next run imports again.
    key.catch(() => {
      if (cached?.key === key) cached = undefined;
    });
    cached = { secret, key };
  }
  return cached.key;
}

/** The public key the well-known route publishes, or undefined when no key is configured. */
export async function publishedAuditKey(
  ctx: Pick<ServiceContext, "config">,
): Promise<ReturnType<typeof publishedKey> | undefined> {
  const key = auditSigningKey(ctx);
  return key ? publishedKey(await key) : undefined;
}

export interface CheckpointRunSummary {
  /** False when AUDIT_SIGNING_KEY is not configured (nothing was signed). */
  configured: boolean;
  key_id?: string | undefined;
  /** Chains whose head moved, signed this run. */
  chains: number;
  /** Checkpoints stored (an overlapping run may have stored one first). */
  written: number;
  /** True when the per-run bound was reached: the next run continues. */
  more: boolean;
  duration_ms: number;
}

/** Signs the head of every chain that moved since its last checkpoint (bounded), at `now`. */
export async function writeCheckpoints(
  ctx: ServiceContext,
  now: Date,
  options: { limit?: number } = {},
): Promise<CheckpointRunSummary> {
  const started = performance.now();
  const limit = options.limit ?? CHECKPOINT_CHAINS_PER_RUN;
  const keyPromise = auditSigningKey(ctx);
  if (!keyPromise) {
    const summary = { configured: false, chains: 0, written: 0, more: false, duration_ms: 0 };
    ctx.log.warn("audit_checkpoints_skipped", { reason: "AUDIT_SIGNING_KEY is not configured" });
    return summary;
  }
  const key = await keyPromise;
  const heads = await movedChainHeads(ctx.db, limit);
  const checkpoints = await Promise.all(heads.map((head) => signCheckpoint(key, head, now)));
  const written = await insertCheckpoints(ctx.db, checkpoints);
  const summary: CheckpointRunSummary = {
    configured: true,
    key_id: key.keyId,
    chains: heads.length,
    written,
    more: heads.length === limit,
    duration_ms: Math.round(performance.now() - started),
  };
  ctx.log.info("audit_checkpoints", { ...summary });
  return summary;
}

/**
 * The export's NDJSON lines (each with its newline), fetched batch by batch as the consumer pulls:
 * the header, then each chain's slice with its checkpoints right after the records they sign.
 */
export async function* exportAuditLines(
  ctx: ServiceContext,
  filter: ExportFilter,
  now: Date,
  batch = EXPORT_BATCH,
): AsyncGenerator<string> {
  yield `${exportHeaderLine({
    generated_at: now.toISOString(),
    chains: filter.chain ?? null,
    from: filter.from?.toISOString() ?? null,
    to: filter.to?.toISOString() ?? null,
  })}\n`;
  let afterChain = "";
  for (;;) {
    const slices = await exportSlices(ctx.db, filter, afterChain, EXPORT_CHAINS_PER_QUERY);
    for (const slice of slices) yield* sliceLines(ctx, slice, batch);
    const last = slices.at(-1);
    if (!last || filter.chain !== undefined || slices.length < EXPORT_CHAINS_PER_QUERY) return;
    afterChain = last.chain_id;
  }
}

async function* sliceLines(ctx: ServiceContext, slice: ChainSlice, batch: number): AsyncGenerator<string> {
  let after = slice.first - 1;
  for (;;) {
    const { records, checkpoints } = await exportBatch(ctx.db, slice, after, batch);
    const lines = batchLines(records, checkpoints);
    if (lines.length > 0) yield `${lines.join("\n")}\n`;
    const last = records.at(-1);
    if (!last || records.length < batch) return;
    after = last.seq;
  }
}
