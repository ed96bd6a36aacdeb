// The policy-as-code CLI's core (npm run policy; scripts/policy.ts wires it to the process): export a
// scope's live policy to a YAML or JSON file, validate a file against the live policy, apply it. Each
// subcommand is a row of SUBCOMMANDS (its usage, options and run), so plan and shadow can join as rows.
// It speaks only HTTP (POLICY_API_URL, POLICY_API_KEY: an admin key), through ops.ts's send().
// Exit codes: 0 done, 1 problems or refused (or the API unreachable), 2 usage.
import { readFileSync, writeFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { LineCounter, type Node, parseDocument, stringify } from "yaml";
import type { PlanReport } from "../../src/domain/policy-plan.ts";
import { usageMistake } from "./cli.ts";
import {
  type Answer,
  ApiFailure,
  type Call,
  DEFAULT_API_URL,
  type OpsIo,
  send,
  table,
  UsageError,
} from "./ops.ts";
import { formatPlan } from "./policy-plan-format.ts";
import { FILE_ONLY_KEYS } from "./policy-schema.ts";

type JsonObject = Record<string, unknown>;

/** What a subcommand runs with: its parsed options and positionals, the io, and the API. */
interface Run {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  io: OpsIo;
  out: (text: string) => void;
  err: (text: string) => void;
  call: (call: Call) => Promise<Answer>;
}

interface Subcommand {
  name: string;
  /** The usage line, after `npm run policy -- `. */
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  positionals: number;
  run: (run: Run) => Promise<number>;
}

const COMMON_OPTIONS = {
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A zod path as the bundle names it: `budgets.0.limit_cents` → `budgets[0].limit_cents`. */
function bundlePath(segments: readonly (string | number)[]): string {
  return segments.reduce<string>(
    (path, part) =>
      typeof part === "number" ? `${path}[${part}]` : path === "" ? String(part) : `${path}.${part}`,
    "",
  );
}

function segmentsOf(dotted: string): (string | number)[] {
  return dotted === "" ? [] : dotted.split(".").map((part) => (/^[0-9]+$/.test(part) ? Number(part) : part));
}

/** A bundle file, parsed: the document (for line numbers), the bundle to send, and its base, if any. */
interface BundleFile {
  name: string;
  bundle: JsonObject;
  base: string | undefined;
  /** The 1-based line of the node at a bundle path, or of its nearest parent that exists. */
  lineOf: (segments: readonly (string | number)[]) => number | undefined;
}

class FileProblems extends Error {
  readonly lines: string[];
  constructor(lines: string[]) {
    super(lines.join("\n"));
    this.lines = lines;
  }
}

/** Reads a YAML or JSON file (JSON is YAML); a syntax error or a non-object is a problem, not a crash. */
function readBundleFile(name: string): BundleFile {
  let text: string;
  try {
    text = readFileSync(name, "utf8");
  } catch (error) {
    throw new FileProblems([
      `${name}: cannot read: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
  const counter = new LineCounter();
  // uniqueKeys (the default) makes a key given twice an error, not a silent "last one wins".
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new FileProblems(
      doc.errors.map((error) => {
        const line = error.pos ? counter.linePos(error.pos[0]).line : undefined;
        return `${name}${line ? `:${line}` : ""}: ${error.message.split("\n")[0]}`;
      }),
    );
  }
  const value: unknown = doc.toJS();
  if (!isObject(value))
    throw new FileProblems([`${name}: not a bundle: the file must hold one mapping (object)`]);
  const base = value["x-base-sha256"];
  const bundle = Object.fromEntries(
    Object.entries(value).filter(([key]) => !(FILE_ONLY_KEYS as readonly string[]).includes(key)),
  );
  const lineOf = (segments: readonly (string | number)[]) => {
    for (let depth = segments.length; depth >= 0; depth--) {
      const node = doc.getIn(segments.slice(0, depth), true) as Node | undefined;
      if (node?.range) return counter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { name, bundle, base: typeof base === "string" ? base : undefined, lineOf };
}

/** `file:line: path: message`, the line when the file can place the path. */
function problemLine(file: BundleFile, segments: readonly (string | number)[], message: string): string {
  const line = file.lineOf(segments);
  const path = bundlePath(segments) || "(bundle)";
  return `${file.name}${line ? `:${line}` : ""}: ${path}: ${message}`;
}

/** The API's 400 for a bundle (issues under `bundle.`) as problem lines. */
function issueLines(file: BundleFile, body: unknown): string[] {
  const error = isObject(body) && isObject(body.error) ? body.error : {};
  const details = isObject(error.details) ? error.details : {};
  const issues = Array.isArray(details.issues) ? details.issues.filter(isObject) : [];
  if (issues.length === 0) return [`${file.name}: ${String(error.message ?? "refused")}`];
  return issues.map((issue) => {
    const path = String(issue.path ?? "");
    const inBundle =
      path === "bundle" ? "" : path.startsWith("bundle.") ? path.slice("bundle.".length) : path;
    return problemLine(file, segmentsOf(inBundle), String(issue.message ?? "invalid"));
  });
}

/** Refusals (validate's list, apply's 403 details) as problem lines. */
function refusalLines(file: BundleFile, refusals: unknown): string[] {
  return (Array.isArray(refusals) ? refusals.filter(isObject) : []).map((refusal) => {
    const segments = segmentsOf(String(refusal.path ?? "").replace(/\[(\d+)\]/g, ".$1"));
    const what = refusal.change === "removed" ? ` (removing ${JSON.stringify(refusal.row)})` : "";
    return `${problemLine(file, segments, String(refusal.message))}${what}`;
  });
}

const SECTIONS = ["settings", "skill_costs", "approval_levels", "capability_rules", "budgets"] as const;

/** The diff's counts, one line per section that changes. */
function summary(counts: unknown): string {
  if (!isObject(counts)) return "";
  const lines = SECTIONS.flatMap((section) => {
    const c = counts[section];
    if (!isObject(c)) return [];
    const parts = ["added", "changed", "removed"].flatMap((kind) =>
      typeof c[kind] === "number" && c[kind] > 0 ? [`${c[kind]} ${kind}`] : [],
    );
    return parts.length ? [`  ${section}: ${parts.join(", ")}`] : [];
  });
  return lines.length ? lines.join("\n") : "  no changes";
}

/** The error envelope's message and code, for one line. */
function errorText(body: unknown): string {
  const error = isObject(body) && isObject(body.error) ? body.error : {};
  return `${String(error.code ?? "error")}: ${String(error.message ?? "(no message)")}`;
}

const exportCommand: Subcommand = {
  name: "export",
  usage: "export [--scope S] [--out FILE]",
  summary:
    'a scope\'s live policy (a tenant, or "*" by default) as YAML, or JSON for a .json FILE; stdout without --out',
  options: { scope: { type: "string", default: "*" }, out: { type: "string" } },
  positionals: 0,
  async run({ values, out, err, call }) {
    const scope = String(values.scope);
    const answer = await call({
      method: "GET",
      path: `/api/v1/admin/policies/bundle?scope=${encodeURIComponent(scope)}`,
    });
    if (values.json) {
      out(JSON.stringify(answer.body, null, 2));
      return 0;
    }
    const body = answer.body as JsonObject;
    const base = String(body.base_sha256);
    const file = { "x-base-sha256": base, ...(body.bundle as JsonObject) };
    const target = typeof values.out === "string" ? values.out : undefined;
    const text = target?.endsWith(".json")
      ? `${JSON.stringify(file, null, 2)}\n`
      : [
          `# Policy bundle of scope ${scope}, exported at policy version ${String(body.policy_version)}.`,
          "# x-base-sha256 is the live policy this file was made from: apply refuses (409) if it changed since.",
          "# Edit, then: npm run policy -- validate <file>; npm run policy -- apply <file>. See docs/POLICY.md.",
          stringify(file, { lineWidth: 0 }),
        ].join("\n");
    if (target) {
      writeFileSync(target, text);
      err(`wrote ${target} (scope ${scope}, base ${base})`);
    } else out(text.trimEnd());
    return 0;
  },
};

const validateCommand: Subcommand = {
  name: "validate",
  usage: "validate <file>",
  summary:
    "check a bundle file against the live policy: its problems by path and line, or what it would change",
  options: {},
  positionals: 1,
  async run({ values, positionals, out, err, call }) {
    const file = readBundleFile(String(positionals[0]));
    const answer = await call({
      method: "POST",
      path: "/api/v1/admin/policies/bundle/validate",
      body: { bundle: file.bundle },
      accept: [400],
    });
    if (values.json) out(JSON.stringify(answer.body, null, 2));
    if (answer.status === 400) {
      for (const line of issueLines(file, answer.body)) err(line);
      return 1;
    }
    const body = answer.body as JsonObject;
    const refusals = refusalLines(file, body.refusals);
    if (!values.json) {
      out(
        `${file.name}: valid bundle of scope ${String(body.scope)} (live base ${String(body.base_sha256)})`,
      );
      out(summary(isObject(body.diff) ? body.diff.counts : undefined));
      if (file.base && file.base !== body.base_sha256) {
        err(
          `${file.name}: note: the live policy changed since this file's x-base-sha256; apply will refuse it`,
        );
      }
    }
    for (const line of refusals) err(line);
    return refusals.length > 0 ? 1 : 0;
  },
};

const applyCommand: Subcommand = {
  name: "apply",
  usage: "apply <file> [--expect BASE]",
  summary:
    "apply a bundle file in one transaction if the live policy still has BASE (default: the file's x-base-sha256)",
  options: { expect: { type: "string" } },
  positionals: 1,
  async run({ values, positionals, out, err, call }) {
    const file = readBundleFile(String(positionals[0]));
    const expected = typeof values.expect === "string" ? values.expect : file.base;
    if (!expected) {
      throw new UsageError(
        `${file.name} has no x-base-sha256: pass --expect <base_sha256> (validate prints it) or export the file again`,
      );
    }
    const answer = await call({
      method: "POST",
      path: "/api/v1/admin/policies/bundle/apply",
      body: { bundle: file.bundle, expected_base_sha256: expected },
      accept: [400, 403, 409],
    });
    if (values.json) out(JSON.stringify(answer.body, null, 2));
    const body = answer.body as JsonObject;
    const error = isObject(body.error) ? body.error : {};
    const details = isObject(error.details) ? error.details : {};
    if (answer.status === 400) {
      for (const line of issueLines(file, body)) err(line);
      return 1;
    }
    if (answer.status === 403) {
      const lines = refusalLines(file, details.refusals);
      for (const line of lines.length ? lines : [`${file.name}: ${errorText(body)}`]) err(line);
      return 1;
    }
    if (answer.status === 409) {
      err(
        `${file.name}: ${errorText(body)}\n  live base ${String(details.base_sha256)}, expected ${expected}: export again (or validate, review, and apply with --expect)`,
      );
      return 1;
    }
    if (!values.json) {
      const changes = isObject(body.changes) ? body.changes : {};
      out(
        `${file.name}: applied ${String(changes.total)} change(s); policy version ${String(body.policy_version)}, base ${String(body.base_sha256)}`,
      );
      out(summary(changes));
    }
    return 0;
  },
};

/** `7d`, `12h` (that long before now) or an ISO timestamp, as the ISO timestamp the API takes. */
export function windowStart(text: string, now = Date.now()): string {
  const relative = /^([1-9][0-9]{0,3})([dh])$/.exec(text);
  if (relative) {
    const hours = Number(relative[1]) * (relative[2] === "d" ? 24 : 1);
    return new Date(now - hours * 3_600_000).toISOString();
  }
  if (Number.isNaN(Date.parse(text)))
    throw new UsageError(`--since ${text}: give 7d, 12h or an ISO timestamp`);
  return text;
}

const planCommand: Subcommand = {
  name: "plan",
  usage: "plan <file> [--since 7d] [--until ISO] [--sample N]",
  summary:
    "replay the decision log of a window (default the last 7 days) against a bundle file: what would change",
  options: {
    since: { type: "string" },
    until: { type: "string" },
    sample: { type: "string" },
    examples: { type: "string" },
  },
  positionals: 1,
  async run({ values, positionals, out, err, call }) {
    const file = readBundleFile(String(positionals[0]));
    const whole = (name: string) => {
      const value = values[name];
      if (value === undefined) return undefined;
      if (typeof value !== "string" || !/^[0-9]{1,6}$/.test(value)) {
        throw new UsageError(`--${name} ${String(value)}: give a whole number`);
      }
      return Number(value);
    };
    const body: JsonObject = { bundle: file.bundle };
    if (typeof values.since === "string") body.since = windowStart(values.since);
    if (typeof values.until === "string") body.until = windowStart(values.until);
    const sample = whole("sample");
    if (sample !== undefined) body.sample = sample;
    const examples = whole("examples");
    if (examples !== undefined) body.examples_per_group = examples;
    const answer = await call({
      method: "POST",
      path: "/api/v1/admin/policies/bundle/plan",
      body,
      accept: [400],
    });
    if (values.json) out(JSON.stringify(answer.body, null, 2));
    if (answer.status === 400) {
      for (const line of issueLines(file, answer.body)) err(line);
      return 1;
    }
    if (!values.json) out(formatPlan(answer.body as PlanReport));
    return 0;
  },
};

const CANDIDATES = "/api/v1/admin/policies/candidates";

/** A candidate id given on the command line, checked before any call. */
function candidateId(text: string | undefined): string {
  if (!text || !/^pcd_[0-9a-f]{16}$/.test(text)) {
    throw new UsageError(
      `${String(text)}: a candidate id is pcd_ and 16 hex digits (npm run policy -- candidates)`,
    );
  }
  return text;
}

const shadowCommand: Subcommand = {
  name: "shadow",
  usage: "shadow <file> [--description TEXT]",
  summary: "store a bundle file as a candidate and shadow the live policy with it (answers never change)",
  options: { description: { type: "string" } },
  positionals: 1,
  async run({ values, positionals, out, err, call }) {
    const file = readBundleFile(String(positionals[0]));
    const created = await call({
      method: "POST",
      path: CANDIDATES,
      body: {
        bundle: file.bundle,
        ...(typeof values.description === "string" ? { description: values.description } : {}),
      },
      accept: [400],
    });
    if (created.status === 400) {
      if (values.json) out(JSON.stringify(created.body, null, 2));
      for (const line of issueLines(file, created.body)) err(line);
      return 1;
    }
    const id = String((created.body as JsonObject).id);
    const shadowed = await call({
      method: "PATCH",
      path: `${CANDIDATES}/${id}`,
      body: { shadow: true },
      accept: [409],
    });
    if (values.json) out(JSON.stringify(shadowed.body, null, 2));
    if (shadowed.status === 409) {
      const details = isObject((shadowed.body as JsonObject).error)
        ? ((shadowed.body as JsonObject).error as JsonObject).details
        : {};
      const other = isObject(details) ? String(details.shadowing_candidate_id) : "another candidate";
      err(
        `${file.name}: stored as candidate ${id}, not shadowing: ${other} shadows scope ${String((created.body as JsonObject).scope)}\n` +
          `  npm run policy -- unshadow ${other}, then PATCH ${CANDIDATES}/${id} {"shadow":true} or run shadow again`,
      );
      return 1;
    }
    if (!values.json) {
      out(
        `${file.name}: candidate ${id} shadows scope ${String((created.body as JsonObject).scope)}: every live evaluation there is also judged by it`,
      );
      out(`  disagreements: npm run policy -- disagreements ${id}   (console: /console/admin/policy)`);
    }
    return 0;
  },
};

const unshadowCommand: Subcommand = {
  name: "unshadow",
  usage: "unshadow <candidate-id>",
  summary: "stop a candidate shadowing (it stays stored, with the answers it recorded)",
  options: {},
  positionals: 1,
  async run({ values, positionals, out, call }) {
    const id = candidateId(positionals[0]);
    const answer = await call({ method: "PATCH", path: `${CANDIDATES}/${id}`, body: { shadow: false } });
    if (values.json) out(JSON.stringify(answer.body, null, 2));
    else out(`candidate ${id} no longer shadows`);
    return 0;
  },
};

const candidatesCommand: Subcommand = {
  name: "candidates",
  usage: "candidates [--scope S]",
  summary: "the stored candidates: id, scope, shadowing or not, who stored it and when",
  options: { scope: { type: "string" } },
  positionals: 0,
  async run({ values, out, call }) {
    const query = typeof values.scope === "string" ? `?scope=${encodeURIComponent(values.scope)}` : "";
    const answer = await call({ method: "GET", path: `${CANDIDATES}${query}` });
    if (values.json) {
      out(JSON.stringify(answer.body, null, 2));
      return 0;
    }
    const body = answer.body as JsonObject;
    const rows = (Array.isArray(body.candidates) ? body.candidates : Array.isArray(body) ? body : []).filter(
      isObject,
    );
    if (rows.length === 0) out("no candidates");
    else
      out(
        table(
          ["id", "scope", "shadow", "created_by", "created_at", "description"],
          rows.map((row) => [
            row.id,
            row.scope,
            row.shadow ? "yes" : "no",
            row.created_by,
            row.created_at,
            row.description ?? "",
          ]),
        ),
      );
    return 0;
  },
};

const disagreementsCommand: Subcommand = {
  name: "disagreements",
  usage: "disagreements <candidate-id> [--limit N]",
  summary: "where a shadowing candidate answered otherwise than the live policy: counts and the latest",
  options: { limit: { type: "string" } },
  positionals: 1,
  async run({ values, positionals, out, call }) {
    const id = candidateId(positionals[0]);
    const limit = typeof values.limit === "string" ? values.limit : "10";
    if (!/^[0-9]{1,3}$/.test(limit)) throw new UsageError(`--limit ${limit}: give a whole number`);
    const answer = await call({ method: "GET", path: `${CANDIDATES}/${id}/disagreements?limit=${limit}` });
    if (values.json) {
      out(JSON.stringify(answer.body, null, 2));
      return 0;
    }
    const body = answer.body as JsonObject;
    const counts = (Array.isArray(body.counts) ? body.counts : []).filter(isObject);
    const latest = (Array.isArray(body.latest) ? body.latest : []).filter(isObject);
    out(`candidate ${id}${body.shadowed === false ? " (not shadowing now)" : ""}`);
    if (counts.length === 0) out("no disagreements recorded");
    else {
      out(
        table(
          ["live", "shadow", "level", "count"],
          counts.map((row) => [row.decision, row.shadow_decision, row.level_change, row.count]),
        ),
      );
      out("");
      out(
        table(
          ["decision", "tenant", "skill", "agent", "live", "shadow", "at"],
          latest.map((row) => [
            row.decision_id,
            row.tenant_id,
            row.skill_id,
            row.agent_id ?? "-",
            `${String(row.decision)} (${String(row.approval_level_required)})`,
            `${String(row.shadow_decision)} (${String(row.shadow_level)})`,
            row.created_at,
          ]),
        ),
      );
    }
    return 0;
  },
};

/** The subcommands, in the order help lists them. */
export const SUBCOMMANDS: Subcommand[] = [
  exportCommand,
  validateCommand,
  planCommand,
  shadowCommand,
  candidatesCommand,
  disagreementsCommand,
  unshadowCommand,
  applyCommand,
];

export function usage(): string {
  const rows = SUBCOMMANDS.map((command) => `  ${command.usage.padEnd(34)} ${command.summary}`);
  return [
    "usage: npm run policy -- <command> [options] [--json]",
    ...rows,
    `  ${"help [command]".padEnd(34)} this text, or one command's`,
    "",
    `  POLICY_API_URL   the API (default ${DEFAULT_API_URL})`,
    "  POLICY_API_KEY   an admin API key (policies:manage)",
    "  --json           print the API's JSON answer",
    "  Exit codes: 0 done, 1 problems or refused, 2 usage. Bundle files: docs/POLICY.md (Bundles).",
  ].join("\n");
}

function commandUsage(command: Subcommand): string {
  return `usage: npm run policy -- ${command.usage} [--json]\n  ${command.summary}`;
}

/** Runs one subcommand; answers the exit code. */
export async function runPolicy(argv: readonly string[], io: OpsIo): Promise<number> {
  const out = (text: string) => io.write(text, "stdout");
  const err = (text: string) => io.write(text, "stderr");
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const wanted = SUBCOMMANDS.find((command) => command.name === rest[0]);
    out(wanted ? commandUsage(wanted) : usage());
    return 0;
  }
  const command = SUBCOMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    err(usageMistake("npm run policy", `unknown command: ${name}`));
    return 2;
  }
  let values: Run["values"];
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { ...COMMON_OPTIONS, ...command.options },
    });
    values = parsed.values as Run["values"];
    positionals = parsed.positionals;
    if (values.help) {
      out(commandUsage(command));
      return 0;
    }
    if (positionals.length !== command.positionals) {
      throw new UsageError(
        command.positionals === 0
          ? `${command.name} takes no arguments (got ${positionals.join(" ")})`
          : `${command.name} needs exactly one ${command.usage.includes("<candidate-id>") ? "candidate id" : "file"} (got ${positionals.length})`,
      );
    }
    if (!io.env.POLICY_API_KEY)
      throw new UsageError(
        'POLICY_API_KEY is not set: export an admin API key (locally, `eval "$(npm run -s dev:env)"` sets it)',
      );
  } catch (error) {
    err(
      usageMistake(
        "npm run policy",
        error instanceof Error ? error.message : String(error),
        `npm run policy -- ${command.name} --help`,
      ),
    );
    return 2;
  }
  const key = io.env.POLICY_API_KEY;
  const base = (io.env.POLICY_API_URL || DEFAULT_API_URL).replace(/\/+$/, "");
  try {
    return await command.run({
      values,
      positionals,
      io,
      out,
      err,
      call: (call) => send(io, base, key, call),
    });
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${error.message}\n${commandUsage(command)}`);
      return 2;
    }
    if (error instanceof FileProblems) {
      for (const line of error.lines) err(line);
      return 1;
    }
    if (error instanceof ApiFailure) {
      if (values.json && error.body !== undefined && error.body !== null)
        out(JSON.stringify(error.body, null, 2));
      err(`policy ${command.name} failed: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
