// The runbook check's stand-in for `npx wrangler <tail|secret|deployments|rollback|queues|deploy> …`,
// which need a Cloudflare account. It proves what can be proven offline: the subcommand exists in the
// installed wrangler and takes every flag the runbook passes (from wrangler's own --help). Then it
// plays the part: `tail --format json` prints the worker's real log lines from this run
// (RUNBOOK_WORKER_LOG) as tail events, so the runbook's jq filters run on real input; `secret put`
// reads the value from stdin, as wrangler does; `deploy` builds for real with the same flags and
// --dry-run, so the bundle and every --var are checked, and uploads nothing.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { wranglerBin } from "./stack.ts";

/** How many words name the command: `tail`, `rollback` take one; `secret put`, `queues info` two. */
const DEPTH: Record<string, number> = {
  tail: 1,
  rollback: 1,
  deploy: 1,
  secret: 2,
  deployments: 2,
  queues: 2,
};

function fail(message: string): never {
  process.stderr.write(`wrangler (offline check): ${message}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const top = args[0] ?? "";
const depth = DEPTH[top];
if (depth === undefined) fail(`"${top}" is not a command this stand-in knows`);
const command = args.slice(0, depth);
if (command.some((word) => word.startsWith("-"))) fail(`"wrangler ${args.join(" ")}" names no subcommand`);

const help = spawnSync(process.execPath, [wranglerBin(), ...command, "--help"], {
  encoding: "utf8",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
});
const helpText = `${help.stdout}\n${help.stderr}`;
if (help.status !== 0 || !helpText.includes(`wrangler ${command.join(" ")}`))
  fail(
    `"wrangler ${command.join(" ")}" is not a command of wrangler ${helpText.match(/\d+\.\d+\.\d+/)?.[0] ?? ""}`,
  );
const options: Record<string, string> = {};
for (let index = depth; index < args.length; index += 1) {
  const word = args[index] ?? "";
  if (!word.startsWith("--")) continue;
  const [flag = "", inline] = word.split("=", 2);
  if (!new RegExp(`(^|\\s)${flag}(\\s|,|$|=)`, "m").test(helpText))
    fail(`"wrangler ${command.join(" ")}" has no ${flag} option`);
  const next = args[index + 1];
  options[flag] = inline ?? (next !== undefined && !next.startsWith("-") ? next : "true");
}

if (top === "tail" && options["--format"] === "json") {
  const search = options["--search"];
  const lines = readFileSync(process.env.RUNBOOK_WORKER_LOG ?? "/dev/null", "utf8")
    .split("\n")
    .filter((line) => line.startsWith("{") && (search === undefined || line.includes(search)));
  for (const line of lines) {
    const at = Date.parse((JSON.parse(line) as { time?: string }).time ?? "") || Date.now();
    // The shape `wrangler tail --format json` prints: one event per invocation, console.log
    // arguments in logs[].message.
    const event = {
      outcome: "ok",
      scriptName: "policy-api",
      exceptions: [],
      logs: [{ message: [line], level: "log", timestamp: at }],
      eventTimestamp: at,
      event: null,
    };
    process.stdout.write(`${JSON.stringify(event, null, 2)}\n`);
  }
} else if (top === "secret" && command[1] === "put") {
  let value = "";
  try {
    value = readFileSync(0, "utf8");
  } catch {
    // No stdin: wrangler would prompt for the value.
  }
  process.stderr.write(
    `wrangler (offline check): secret ${args[depth] ?? "?"} would be set (${value.trim().length} characters)\n`,
  );
} else if (top === "deploy") {
  const outdir = mkdtempSync(path.join(os.tmpdir(), "runbook-deploy-"));
  const build = spawnSync(process.execPath, [wranglerBin(), ...args, "--dry-run", "--outdir", outdir], {
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  rmSync(outdir, { recursive: true, force: true });
  if (build.status !== 0)
    fail(`"wrangler ${args.join(" ")}" does not build:\n${build.stdout}\n${build.stderr}`);
  process.stderr.write(`wrangler (offline check): ${args.join(" ")} builds (dry run; nothing uploaded)\n`);
}
