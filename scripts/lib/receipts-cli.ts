// The receipts CLI's core (npm run receipts; scripts/receipts.ts wires it to the process): make a
// receipt signing key, and check a receipt the way a tool runner does before it acts, with the same
// verifyReceipt (src/lib/receipt-verify.ts) against the service's JWKS (a URL, by default the local
// `npm run dev` server, or a saved file) and the payload the action will use.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { JSONWebKeySet } from "jose";
import { verifyReceipt } from "../../src/lib/receipt-verify.ts";
import { importReceiptSigningKey } from "../../src/lib/receipts.ts";
import { usageMistake } from "./cli.ts";
import { ed25519Pkcs8 } from "./dev-keys.ts";

export const DEFAULT_JWKS_URL = "http://127.0.0.1:8000/.well-known/jwks.json";

export const USAGE = `usage: npm run receipts -- <command>
  keygen                               print a new RECEIPT_SIGNING_KEY and the public key it publishes
  verify RECEIPT --payload JSON        check a receipt (the compact JWS, or "-" for stdin) before acting
      --payload JSON | @FILE           the exact payload the action will use (required)
      --request ID                     the request the receipt must be about (optional)
      --jwks URL | @FILE               the key set (default ${DEFAULT_JWKS_URL})

  exit 0 the receipt allows the action (its claims printed as JSON), 1 refused (why printed), 2 usage`;

export interface ReceiptsCliIo {
  write(text: string, stream?: "stdout" | "stderr"): Promise<void> | void;
  readStdin(): Promise<string>;
  fetch: typeof fetch;
}

/** A value given inline, or `@FILE` read from a file. */
function inlineOrFile(value: string): string {
  return value.startsWith("@") ? readFileSync(value.slice(1), "utf8") : value;
}

export async function runReceiptsCli(argv: string[], io: ReceiptsCliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        payload: { type: "string" },
        request: { type: "string" },
        jwks: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  const usage = async (message: string) => {
    await io.write(`${usageMistake("npm run receipts", message)}\n`, "stderr");
    return 2;
  };
  try {
    parsed = parse();
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  const { positionals, values } = parsed;
  if (values.help) {
    await io.write(`${USAGE}\n`);
    return 0;
  }
  const [command, receiptArg, ...extra] = positionals;
  if (extra.length > 0) return usage(`unexpected arguments: ${extra.join(" ")}`);
  if (command === "keygen") {
    if (receiptArg !== undefined) return usage(`unexpected arguments: ${receiptArg}`);
    const secret = ed25519Pkcs8();
    const key = await importReceiptSigningKey(secret);
    await io.write(
      [
        "# the secret: wrangler secret put RECEIPT_SIGNING_KEY, and paste this value (not the audit key)",
        `RECEIPT_SIGNING_KEY=${secret}`,
        "# what /.well-known/jwks.json will publish for it",
        `kid=${key.kid}`,
        `public_jwk=${JSON.stringify(key.publicJwk)}`,
        "",
      ].join("\n"),
    );
    return 0;
  }
  if (command !== "verify")
    return usage(command === undefined ? "a command is required" : `unknown command ${command}`);
  if (receiptArg === undefined) return usage("verify needs the receipt (or - for stdin)");
  if (values.payload === undefined)
    return usage("--payload is required: the exact payload the action will use");
  let payload: unknown;
  let jwks: JSONWebKeySet;
  try {
    payload = JSON.parse(inlineOrFile(values.payload));
  } catch (error) {
    return usage(`--payload is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const receipt = (receiptArg === "-" ? await io.readStdin() : receiptArg).trim();
  const source = values.jwks ?? DEFAULT_JWKS_URL;
  try {
    if (source.startsWith("@")) {
      jwks = JSON.parse(inlineOrFile(source)) as JSONWebKeySet;
    } else {
      const res = await io.fetch(source, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`${source} answered ${res.status}`);
      jwks = (await res.json()) as JSONWebKeySet;
    }
    if (!Array.isArray(jwks.keys)) throw new Error("not a JSON Web Key Set (no keys array)");
  } catch (error) {
    await io.write(
      `could not read the key set: ${error instanceof Error ? error.message : String(error)}\n`,
      "stderr",
    );
    return 1;
  }
  const check = await verifyReceipt(receipt, jwks, {
    payload,
    ...(values.request === undefined ? {} : { requestId: values.request }),
  });
  if (!check.ok) {
    await io.write(`refused: ${check.refused} — do not act\n`, "stderr");
    return 1;
  }
  await io.write(`${JSON.stringify(check.claims, null, 2)}\n`);
  return 0;
}
