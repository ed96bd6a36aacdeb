// What every `npm run <cli>` shares (issue 32): `--help`, `-h` and `help` print the usage and exit 0; a
// usage mistake is one line and a hint, exit 2; any other failure is one line saying what went wrong
// and what to do, exit 1: never a stack trace, never a bare `undefined` (an AggregateError from a
// refused connection has an empty message, which is how `undefined` got printed).
import { type ParseArgsConfig, parseArgs } from "node:util";
import { LOCAL } from "./local-stack.ts";

/** A usage mistake: one line, the hint to --help, exit 2. */
export class UsageError extends Error {}

export interface CliSpec {
  /** How the reader runs it, e.g. `npm run keys`: messages start with it, the hint names it. */
  name: string;
  usage: string;
}

/** True when the arguments ask for help: `help` first, or `--help`/`-h` anywhere before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  const own = end < 0 ? argv : argv.slice(0, end);
  return own[0] === "help" || own.includes("--help") || own.includes("-h");
}

/** A usage mistake as every CLI prints it: what is wrong on one line, then where the usage is. */
export function usageMistake(name: string, message: string, help = `${name} -- --help`): string {
  const line = (message.split(". To specify a positional")[0] ?? message).replaceAll("\n", " ");
  return `${line}\nusage: ${help}`;
}

/** parseArgs, strict, its errors turned into a UsageError (one line, without node's long advice). */
export function parseCli<T extends ParseArgsConfig["options"]>(
  argv: readonly string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.split(". To specify a positional")[0] ?? message);
  }
}

/** Where the failing address came from, said so the reader knows which variable to set. */
function postgresHint(): string {
  if (process.env.DATABASE_URL)
    return "check DATABASE_URL (unset, the embedded database of `npm run dev` is used)";
  const where = LOCAL.fromStackFile
    ? `the port in ${LOCAL.stackFile}`
    : process.env.EMBEDDED_PG_PORT
      ? "EMBEDDED_PG_PORT"
      : "the default port";
  return `is \`npm run dev\` running? (${where}; set EMBEDDED_PG_PORT or DATABASE_URL if it runs elsewhere)`;
}

function apiHint(): string {
  return "is `npm run dev` running? set POLICY_API_URL if the API listens elsewhere";
}

/** Every message in an error and its causes (an AggregateError's too), for matching and printing. */
function messages(error: unknown, depth = 0): string[] {
  if (depth > 4 || error === null || error === undefined) return [];
  if (!(error instanceof Error)) return [String(error)];
  const own = error.message ? [error.message] : [];
  const inner = error instanceof AggregateError ? error.errors.flatMap((e) => messages(e, depth + 1)) : [];
  return [...own, ...inner, ...messages(error.cause, depth + 1)];
}

function code(error: unknown): string | undefined {
  if (error instanceof AggregateError) return code(error.errors[0]) ?? (error as { code?: string }).code;
  if (error instanceof Error) return (error as { code?: string }).code ?? code(error.cause);
  return undefined;
}

/** One line: what went wrong and, when it is a known case, what to do. */
export function explain(error: unknown): string {
  if (error instanceof UsageError) return error.message;
  const errorCode = code(error);
  const text = messages(error);
  const address = /(\d{1,3}(?:\.\d{1,3}){3}|localhost|\[::1\]):(\d+)/.exec(text.join(" "));
  if (errorCode === "ECONNREFUSED" || text.some((m) => /ECONNREFUSED|fetch failed/.test(m))) {
    const where = address ? `${address[1]}:${address[2]}` : "the address";
    // fetch is how the CLIs reach the API; anything else refused is a database connection.
    if (text.some((m) => /fetch failed/.test(m))) return `nothing answers at ${where}: ${apiHint()}`;
    return `no Postgres at ${where}: ${postgresHint()}`;
  }
  if (errorCode === "EADDRINUSE" && address)
    return `port ${address[2]} is taken: another process listens there (an earlier run?); stop it or choose another port`;
  const [first, cause] = text.filter((m) => m.trim() !== "");
  const line = first ?? (errorCode ? `error ${errorCode}` : "unknown error");
  return `${line}${cause && !line.includes(cause) ? ` (${cause})` : ""}`.replaceAll("\n", " ").trim();
}

/** Runs a CLI's main: help and usage as above, any thrown error as one line. Sets the exit code. */
export async function runCli(
  spec: CliSpec,
  argv: readonly string[],
  main: (argv: readonly string[]) => Promise<number | undefined>,
): Promise<void> {
  if (wantsHelp(argv)) {
    console.log(spec.usage);
    process.exitCode = 0;
    return;
  }
  try {
    process.exitCode = (await main(argv)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(usageMistake(spec.name, `${spec.name}: ${error.message}`));
      process.exitCode = 2;
    } else {
      console.error(`${spec.name}: ${explain(error)}`);
      process.exitCode = 1;
    }
  }
}

/**
 * For the CLIs whose core parses its own arguments and answers an exit code (ops, audit, policy,
 * receipts, slack): `help` as the first word is `--help`, and anything the core throws is one line.
 */
export async function runCore(
  name: string,
  argv: readonly string[],
  core: (argv: string[]) => Promise<number>,
): Promise<void> {
  const args = argv[0] === "help" ? ["--help", ...argv.slice(1)] : [...argv];
  try {
    process.exitCode = await core(args);
  } catch (error) {
    console.error(`${name}: ${explain(error)}`);
    process.exitCode = 1;
  }
}

/** Prints the one-line usage mistake and the hint, and exits 2. */
export function usageExit(spec: CliSpec, message: string): never {
  console.error(usageMistake(spec.name, `${spec.name}: ${message}`));
  process.exit(2);
}

/**
 * For scripts that run at the top level (receiver, bench, load-test): help and usage handled at once
 * (exit 0 / 2), and any error thrown later, at the top level or in a callback, is one line and exit 1.
 */
export function parseOrExit<T extends ParseArgsConfig["options"]>(
  spec: CliSpec,
  argv: readonly string[],
  options: T,
  allowPositionals = false,
) {
  if (wantsHelp(argv)) {
    console.log(spec.usage);
    process.exit(0);
  }
  process.on("uncaughtException", (error) => {
    console.error(`${spec.name}: ${explain(error)}`);
    process.exit(1);
  });
  try {
    return parseCli(argv, options, allowPositionals);
  } catch (error) {
    return usageExit(spec, explain(error));
  }
}
