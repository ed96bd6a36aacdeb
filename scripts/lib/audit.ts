// The audit-trail CLI's core (npm run audit; scripts/audit.ts wires it to the process): verify the
// hash chains in a database, export them as NDJSON, verify such an export offline. The checks are
// src/domain/audit-chain.ts, the same module the worker will use; this file only reads and prints.
// Talks to Postgres directly (node-postgres): it is an operator tool for whoever holds the database
// URL, and needs no Neon gateway.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import pg from "pg";
import {
  batchLines,
  type ChainRecord,
  ChainVerifier,
  checkpointLine,
  describeResult,
  exportHeaderLine,
  type VerifyOptions,
  type VerifyResult,
  verifyExportLines,
} from "../../src/domain/audit-chain.ts";
import {
  type Checkpoint,
  generateSigningKey,
  importVerifyingKey,
  type VerifyingKey,
} from "../../src/domain/audit-checkpoint.ts";
import { explain, usageMistake } from "./cli.ts";

export const USAGE = `usage: npm run audit -- <command>
  verify --database [--tenant T] [--batch N]   walk every chain (or tenant T's) in the database
  export --database [--tenant T] [--batch N]   write the chains (or tenant T's) as NDJSON to stdout
  verify FILE                                  verify an NDJSON export offline (FILE "-": stdin)
  keygen                                       print a new checkpoint signing key and its public key

  --public-key K   check the signed checkpoints with public key K (base64, as published at
                   /.well-known/policy-api-audit-key; repeat during a key rotation). Without it
                   checkpoints are reported as not checked.

  DATABASE_URL   the database (default: the embedded database of npm run dev)
  exit 0 every chain verifies, 1 a broken link (named) or an error, 2 usage`;

export const DEFAULT_BATCH = 1000;

export interface AuditIo {
  /** Opens the database to read (only database commands call it). */
  database: () => Promise<{ url: string; close: () => Promise<void> }>;
  /** Writes text as given (NDJSON lines carry their own newline); resolves when it may write more. */
  write: (text: string, stream?: "stdout" | "stderr") => Promise<void>;
  stdin?: Readable;
}

const COLUMNS = `chain_id, seq, kind, source_table, source_id, content, prev_hash, hash,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at`;

/** A chain row as node-postgres returns it: bigint seq as text, created_at already formatted. */
type RawRow = Omit<ChainRecord, "seq" | "created_at"> & { seq: string; created_at: string };

/**
 * The chain records of the database (or of one chain) in (chain_id, seq) order, `batch` rows per
 * query: keyset pagination on the primary key, so memory and each query's cost stay bounded however
 * long the chains grow.
 */
export async function* readChain(
  client: pg.Client,
  options: { chain?: string | undefined; batch?: number } = {},
): AsyncGenerator<ChainRecord> {
  const batch = options.batch ?? DEFAULT_BATCH;
  let after: [string, string] = [options.chain ?? "", "0"];
  for (;;) {
    const { rows } = await client.query<RawRow>(
      `SELECT ${COLUMNS} FROM audit_chain
       WHERE (chain_id, seq) > ($1, $2::bigint) ${options.chain === undefined ? "" : "AND chain_id = $4"}
       ORDER BY chain_id, seq LIMIT $3`,
      options.chain === undefined ? [...after, batch] : [...after, batch, options.chain],
    );
    for (const row of rows) yield { ...row, seq: Number(row.seq) };
    const last = rows.at(-1);
    if (!last || rows.length < batch) return;
    after = [last.chain_id, last.seq];
  }
}

const CHECKPOINT_COLUMNS = `chain_id, seq, head_hash,
  to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS signed_at, key_id, signature`;

type RawCheckpoint = Omit<Checkpoint, "seq"> & { seq: string };

/**
 * The chain records in batches (readChain's order), each with the stored checkpoints of the same
 * chains and seq range; after the last batch, the checkpoints beyond their chain's last record (a
 * tail cut off after it was signed) as one more batch without records.
 */
export async function* readChainBatches(
  client: pg.Client,
  options: { chain?: string | undefined; batch?: number } = {},
): AsyncGenerator<{ records: ChainRecord[]; checkpoints: Checkpoint[] }> {
  const batch = options.batch ?? DEFAULT_BATCH;
  let records: ChainRecord[] = [];
  const flush = async () => {
    const ranges = new Map<string, [number, number]>();
    for (const record of records) {
      const range = ranges.get(record.chain_id);
      ranges.set(record.chain_id, [range?.[0] ?? record.seq, record.seq]);
    }
    const { rows } = await client.query<RawCheckpoint>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints k
       JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(chain, lo, hi) ON k.chain_id = r.chain
       WHERE k.seq BETWEEN r.lo AND r.hi ORDER BY k.chain_id, k.seq, k.id`,
      [[...ranges.keys()], [...ranges.values()].map((r) => r[0]), [...ranges.values()].map((r) => r[1])],
    );
    const out = { records, checkpoints: rows.map((row) => ({ ...row, seq: Number(row.seq) })) };
    records = [];
    return out;
  };
  for await (const record of readChain(client, options)) {
    records.push(record);
    if (records.length >= batch) yield await flush();
  }
  if (records.length > 0) yield await flush();
  const { rows } = await client.query<RawCheckpoint>(
    `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints k
     WHERE ($1::text IS NULL OR k.chain_id = $1)
       AND k.seq > coalesce((SELECT max(a.seq) FROM audit_chain a WHERE a.chain_id = k.chain_id), 0)
     ORDER BY k.chain_id, k.seq, k.id LIMIT $2`,
    [options.chain ?? null, batch],
  );
  if (rows.length > 0)
    yield { records: [], checkpoints: rows.map((row) => ({ ...row, seq: Number(row.seq) })) };
}

export async function verifyDatabase(
  url: string,
  options: { chain?: string | undefined; batch?: number; keys?: readonly VerifyingKey[] } = {},
): Promise<VerifyResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const verifier = new ChainVerifier({ keys: options.keys } satisfies VerifyOptions);
    for await (const { records, checkpoints } of readChainBatches(client, options)) {
      // Checkpoints first: each waits for the record at its seq, and those left waiting are truncation.
      for (const checkpoint of checkpoints) await verifier.addCheckpoint(checkpoint);
      for (const record of records) await verifier.add(record);
    }
    return verifier.result();
  } finally {
    await client.end();
  }
}

async function exportDatabase(
  url: string,
  options: { chain?: string | undefined; batch?: number },
  write: AuditIo["write"],
): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const generated_at = new Date().toISOString();
    await write(
      `${exportHeaderLine({ generated_at, chains: options.chain ?? null, from: null, to: null })}\n`,
    );
    for await (const { records, checkpoints } of readChainBatches(client, options)) {
      const lines = records.length > 0 ? batchLines(records, checkpoints) : checkpoints.map(checkpointLine);
      if (lines.length > 0) await write(`${lines.join("\n")}\n`);
    }
  } finally {
    await client.end();
  }
}

function fileLines(file: string, stdin: Readable | undefined): AsyncIterable<string> {
  const input = file === "-" ? (stdin ?? process.stdin) : createReadStream(file, { encoding: "utf8" });
  return createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
}

async function report(result: VerifyResult, write: AuditIo["write"]): Promise<number> {
  for (const line of describeResult(result)) await write(`${line}\n`);
  if (result.chains.length === 0) await write("no chain records\n");
  await write(result.ok ? "audit chain verifies\n" : "audit chain BROKEN\n", result.ok ? "stdout" : "stderr");
  return result.ok ? 0 : 1;
}

/** Runs one command; resolves to the exit code. */
export async function runAudit(argv: string[], io: AuditIo): Promise<number> {
  const parse = () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        database: { type: "boolean" },
        tenant: { type: "string" },
        batch: { type: "string" },
        "public-key": { type: "string", multiple: true },
        help: { type: "boolean" },
      },
    });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    await io.write(
      `${usageMistake("npm run audit", error instanceof Error ? error.message : String(error))}\n`,
      "stderr",
    );
    return 2;
  }
  const { positionals, values } = parsed;
  const [command, file, ...extra] = positionals;
  const usage = async (message: string) => {
    await io.write(`${usageMistake("npm run audit", message)}\n`, "stderr");
    return 2;
  };
  if (values.help) {
    await io.write(`${USAGE}\n`);
    return 0;
  }
  const batch = values.batch === undefined ? DEFAULT_BATCH : Number(values.batch);
  if (!Number.isSafeInteger(batch) || batch < 1) return usage("--batch must be a positive integer");
  if (extra.length > 0) return usage(`unexpected arguments: ${extra.join(" ")}`);
  const options = { chain: values.tenant, batch };
  if (command === "keygen") {
    if (file !== undefined) return usage(`unexpected arguments: ${file}`);
    const key = await generateSigningKey();
    await io.write(
      [
        "# the secret: wrangler secret put AUDIT_SIGNING_KEY, and paste this value",
        `AUDIT_SIGNING_KEY=${key.privateKey}`,
        "# what /.well-known/policy-api-audit-key will publish (for verify --public-key)",
        `public_key=${key.publicKey}`,
        `key_id=${key.keyId}`,
        "",
      ].join("\n"),
    );
    return 0;
  }
  let keys: VerifyingKey[];
  try {
    keys = await Promise.all((values["public-key"] ?? []).map((key) => importVerifyingKey(key)));
  } catch (error) {
    return usage(`--public-key: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    if (command === "verify" && file !== undefined) {
      if (values.database) return usage("verify takes a FILE or --database, not both");
      const result = await verifyExportLines(fileLines(file, io.stdin), { keys });
      for (const error of result.errors) await io.write(`${error}\n`, "stderr");
      return await report(result, io.write);
    }
    if ((command === "verify" || command === "export") && !values.database) {
      return usage(`${command} needs --database${command === "verify" ? " or a FILE" : ""}`);
    }
    if (command === "verify" || command === "export") {
      const db = await io.database();
      try {
        if (command === "export") {
          await exportDatabase(db.url, options, io.write);
          return 0;
        }
        return await report(await verifyDatabase(db.url, { ...options, keys }), io.write);
      } finally {
        await db.close();
      }
    }
    return usage(command === undefined ? "no command" : `unknown command ${command}`);
  } catch (error) {
    await io.write(`audit failed: ${explain(error)}\n`, "stderr");
    return 1;
  }
}
