// Runs every command docs/RUNBOOK.md shows against a throwaway local stack (scripts/lib/stack.ts), so
// the runbook cannot rot: a renamed route, flag, column or script fails the check.
//
// What counts as a command: each line of a ```bash block (continuation lines joined, comments
// dropped), and each inline code span that starts like one (`npm run …`, `npx …`, `curl …`, `psql …`,
// `openssl …`, or a SQL statement). How each runs:
// - curl, psql, jq, npm run … and openssl run for real, as written, in bash with `pipefail`, curl with
//   --fail-with-body so an HTTP error fails the command. The local defaults the runbook names
//   (127.0.0.1:8000, port 5433) and the Neon placeholders ($NEON_URL, the ep-xxx URL) point at the
//   stack; `<key_id>`-style placeholders get real values made for the command.
// - Inline SQL runs through psql inside BEGIN … ROLLBACK: it must run against the schema, and the
//   emergency statements shown in prose (lock everyone out, say) must not end the check.
// - `npx wrangler` commands that need a Cloudflare account (tail, secret, deployments, rollback, deploy,
//   queues) go to an offline stand-in (wrangler-offline.ts) that checks the subcommand and every flag
//   against the installed wrangler's own --help; `wrangler tail --format json` prints the worker's
//   real log lines from this run in tail's JSON shape, so the runbook's jq filters run on real input.
// - A short list of commands is not run, each with its reason (NOT_RUN below); the report lists them.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { createKey } from "./keys.ts";
import { LOCAL } from "./local-stack.ts";
import { migrateUp } from "./migrations.ts";
import type { Stack } from "./stack.ts";

export interface RunbookCommand {
  /** 1-based line of the command's first line in the file. */
  line: number;
  section: string;
  text: string;
  kind: "block" | "inline";
  /** Shell assignments earlier in the same block (`NEW="…"`), which the command may use. */
  assignments: string[];
}

const INLINE_COMMAND = /^(npm run |npx |curl |psql |PGPASSWORD=\S+ psql |openssl )/;
const INLINE_SQL = /^(SELECT |UPDATE \w+ SET |DELETE FROM |INSERT INTO )/;
const ASSIGNMENT = /^[A-Z_][A-Z0-9_]*=\S+$/;

export function extractCommands(markdown: string): RunbookCommand[] {
  const commands: RunbookCommand[] = [];
  const lines = markdown.split("\n");
  let section = "";
  let fence: string | null = null;
  let assignments: string[] = [];
  let pending: { line: number; text: string } | null = null;
  lines.forEach((raw, index) => {
    const lineNumber = index + 1;
    const fenceMatch = /^\s*```(\w*)\s*$/.exec(raw);
    if (fenceMatch) {
      fence = fence === null ? (fenceMatch[1] ?? "") : null;
      assignments = [];
      return;
    }
    if (fence !== null) {
      if (fence !== "bash") return;
      const line = raw.trim();
      if (pending) {
        pending.text += ` ${line.replace(/\\$/, "").trim()}`;
      } else {
        if (line === "" || line.startsWith("#")) return;
        pending = { line: lineNumber, text: line.replace(/\\$/, "").trim() };
      }
      if (!line.endsWith("\\")) {
        const text = pending.text;
        if (ASSIGNMENT.test(text)) assignments.push(text);
        else
          commands.push({ line: pending.line, section, text, kind: "block", assignments: [...assignments] });
        pending = null;
      }
      return;
    }
    const heading = /^#{1,6}\s+(.*)$/.exec(raw);
    if (heading) section = heading[1] ?? "";
    for (const span of raw.matchAll(/`([^`]+)`/g)) {
      const text = span[1] ?? "";
      if (INLINE_COMMAND.test(text) || INLINE_SQL.test(text))
        commands.push({ line: lineNumber, section, text, kind: "inline", assignments: [] });
    }
  });
  return commands;
}

/** Commands the check does not run, and why. Keep this short: each entry is a gap. */
const NOT_RUN: { match: RegExp; reason: string }[] = [
  {
    match: /^npm run dev\b/,
    reason:
      "starts the stack on fixed ports; the check runs the same stack (scripts/lib/stack.ts shares its wrangler arguments)",
  },
  {
    match: /^npm run (format|types|lock:repair)\b/,
    reason:
      "rewrites files in the working tree; npm test runs its checking form (lint, types:check, the lockfile check) every time",
  },
  { match: /^npm run runbook:check\b/, reason: "this check itself" },
  {
    match: /^npm run bench\b/,
    reason: "minutes of load on its own stack; test/node/bench.test.ts runs it small",
  },
  {
    match: /\bpolicy_api_metrics\b/,
    reason:
      "Analytics Engine SQL needs a Cloudflare account; test/metrics.test.ts checks the counters it sums",
  },
];

export interface CommandResult {
  command: RunbookCommand;
  /** What ran, after substitutions. */
  ran: string;
  outcome: "ok" | "failed" | "not run";
  detail: string;
  ms: number;
}

interface Context {
  stack: Stack;
  env: NodeJS.ProcessEnv;
  shims: string;
  workerLogFile: string;
  spare: pg.Client[];
  requestId: string;
  decisionId: string;
  policyRowId: number;
}

function quoteForShell(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The shell the checked commands run in: curl fails on an HTTP error, wrangler's cloud commands go offline. */
export const SHIMS = `
set -o pipefail
curl() { command curl --fail-with-body --max-time 120 "$@"; }
npx() {
  if [ "$1" = wrangler ]; then
    case "$2" in tail|secret|deployments|rollback|queues|deploy)
      shift; "$RUNBOOK_NODE" "$RUNBOOK_WRANGLER_OFFLINE" "$@"; return $?;;
    esac
  fi
  command npx "$@"
}
`;

function runShell(script: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn("bash", ["-c", script], { cwd: LOCAL.root, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function freshKeyId(ctx: Context): Promise<string> {
  const created = await createKey(ctx.stack.databaseUrl, {
    principalId: `runbook-${crypto.randomUUID().slice(0, 8)}`,
    role: "approver",
    maxLevel: 3,
    tenantId: "demo",
    name: "runbook check: a key to revoke",
  });
  return created.key_id;
}

async function sparePid(ctx: Context): Promise<number> {
  const client = new pg.Client({
    connectionString: ctx.stack.databaseUrl,
    application_name: "runbook-spare",
  });
  await client.connect();
  client.on("error", () => {}); // pg_terminate_backend ends it on purpose.
  ctx.spare.push(client);
  const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  return rows[0]?.pid ?? 0;
}

/** The command as it runs on the stack: local defaults and placeholders replaced with real values. */
async function prepare(command: RunbookCommand, ctx: Context): Promise<string> {
  let text = command.text
    .replaceAll("http://127.0.0.1:8000", ctx.stack.api)
    .replaceAll("-p 5433", `-p ${ctx.stack.postgresPort}`)
    .replaceAll(
      "postgresql://USER:PASSWORD@ep-xxx.REGION.aws.neon.tech/policy?sslmode=require",
      ctx.stack.databaseUrl,
    )
    .replaceAll('-c "..."', '-c "SELECT 1"')
    .replaceAll("<decision_id>", ctx.decisionId)
    .replaceAll("<id>", String(ctx.policyRowId))
    .replaceAll("<current secret>", "whsec_the-current-one");
  while (text.includes("<key_id>")) text = text.replace("<key_id>", await freshKeyId(ctx));
  while (text.includes("<pid>")) text = text.replace("<pid>", String(await sparePid(ctx)));
  const unknown = /<[a-z][a-z_ ]*>/.exec(text);
  if (unknown)
    throw new Error(`unknown placeholder ${unknown[0]}: teach scripts/lib/runbook-check.ts its value`);
  if (command.kind === "inline" && INLINE_SQL.test(text)) {
    return `psql "$NEON_URL" -v ON_ERROR_STOP=1 -c BEGIN -c ${quoteForShell(text)} -c ROLLBACK`;
  }
  return text;
}

function writeWorkerLog(ctx: Context): void {
  const lines = ctx.stack.output.filter((line) => line.startsWith("{") && line.includes('"msg"'));
  writeFileSync(ctx.workerLogFile, `${lines.join("\n")}\n`);
}

async function runOne(command: RunbookCommand, ctx: Context): Promise<CommandResult> {
  const started = performance.now();
  const skip = NOT_RUN.find((rule) => rule.match.test(command.text));
  if (skip) return { command, ran: "", outcome: "not run", detail: skip.reason, ms: 0 };
  let ran = "";
  try {
    ran = await prepare(command, ctx);
    writeWorkerLog(ctx);
    const script = `${ctx.shims}\n${command.assignments.join("\n")}\n${ran}`;
    const { code, output } = await runShell(script, ctx.env, 180_000);
    // The load test exits 1 when only its latency criterion fails (a busy machine): it still ran, and
    // every request succeeded (2 would say they did not).
    const allowed = /^npm run load-test\b/.test(command.text) ? [0, 1] : [0];
    const ok = code !== null && allowed.includes(code);
    if (/npm run db:rollback\b/.test(command.text)) await migrateUp(ctx.stack.databaseUrl);
    return {
      command,
      ran,
      outcome: ok ? "ok" : "failed",
      detail: ok ? output.slice(0, 400) : `exit ${code ?? "killed"}: ${output.slice(-1500)}`,
      ms: performance.now() - started,
    };
  } catch (error) {
    return { command, ran, outcome: "failed", detail: String(error), ms: performance.now() - started };
  }
}

async function api(stack: Stack, method: string, route: string, key: string | undefined, body?: unknown) {
  const res = await fetch(`${stack.api}${route}`, {
    method,
    headers: {
      ...(key ? { Authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  return { status: res.status, body: answer ?? {} };
}

/**
 * Gives the runbook something to look at: decisions, open requests (one with a webhook to a port
 * nothing listens on, so its delivery fails), refusals in the log.
 */
async function workload(stack: Stack) {
  const agent = stack.keys.agent;
  const evalAnswer = await api(stack, "POST", "/api/v1/policy/eval", agent, {
    skill_id: "email.send",
    tenant_id: "demo",
    agent_id: "bot-1",
    payload: {},
  });
  const decisionId = String(evalAnswer.body.decision_id ?? "");
  if (!decisionId) throw new Error(`workload: eval answered ${evalAnswer.status}`);
  let requestId = "";
  for (const extra of [{ webhook_url: "http://127.0.0.1:9/hooks/runbook" }, {}, {}]) {
    const filed = await api(stack, "POST", "/api/v1/policy/requests", agent, {
      policy_type: "cost",
      skill_id: "payments.refund",
      tenant_id: "demo",
      agent_id: "bot-1",
      requested_by: "bot-1",
      payload: { amount_cents: 1200 },
      ...extra,
    });
    if (filed.status !== 200)
      throw new Error(`workload: filing answered ${filed.status} ${JSON.stringify(filed.body)}`);
    requestId ||= String(filed.body.request_id);
  }
  await api(stack, "GET", "/api/v1/policy/requests", undefined);
  await api(
    stack,
    "GET",
    "/api/v1/policy/requests",
    "pak_0123456789abcdef_not-a-real-key-not-a-real-key-000000000",
  );
  const levels = await api(stack, "GET", "/api/v1/admin/policies/approval-levels", stack.keys.admin);
  const rows = (Array.isArray(levels.body) ? levels.body : (levels.body.items ?? [])) as { id: number }[];
  const policyRowId = rows[0]?.id;
  if (policyRowId === undefined) throw new Error(`workload: no approval-level rows (${levels.status})`);
  return { decisionId, requestId, policyRowId };
}

export async function checkRunbook(
  stack: Stack,
  options: { file?: string; onResult?: (result: CommandResult) => void } = {},
): Promise<CommandResult[]> {
  const file = options.file ?? path.join(LOCAL.root, "docs/RUNBOOK.md");
  const commands = extractCommands(readFileSync(file, "utf8"));
  const seeded = await workload(stack);
  const workerLogFile = path.join(stack.dataDir, "worker-log.jsonl");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    API: stack.api,
    ADMIN_KEY: stack.keys.admin,
    METRICS_TOKEN: stack.metricsToken,
    NEON_URL: stack.databaseUrl,
    ID: seeded.requestId,
    POLICY_API_URL: stack.api,
    POLICY_API_KEY: stack.keys.admin,
    POLICY_AGENT_KEY: stack.keys.agent,
    POLICY_APPROVER_KEY: stack.keys.approver,
    EMBEDDED_PG_PORT: String(stack.postgresPort),
    RUNBOOK_NODE: process.execPath,
    RUNBOOK_WRANGLER_OFFLINE: path.join(LOCAL.root, "scripts/lib/wrangler-offline.ts"),
    RUNBOOK_WORKER_LOG: workerLogFile,
    NO_COLOR: "1",
  };
  // The runbook's commands name their database themselves; a developer's own must not leak in.
  delete env.DATABASE_URL;
  delete env.PGPASSWORD;
  const ctx: Context = { stack, env, shims: SHIMS, workerLogFile, spare: [], ...seeded };
  const results: CommandResult[] = [];
  try {
    for (const command of commands) {
      const result = await runOne(command, ctx);
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    for (const client of ctx.spare) await client.end().catch(() => {});
  }
  return results;
}
