// Every CLI explains itself (issue 32): `--help` and `help` print its usage and exit 0; a usage mistake
// is one line and a hint, exit 2; a stack that is not there (a wrong port, nothing running) is one
// line saying what went wrong and what to do, exit 1. Never a stack frame, never a bare `undefined`.
// The scripts run as `npm run` runs them (node on the .ts file), in parallel, with a clean environment.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runChild } from "../../scripts/lib/child-process.ts";
import { explain, UsageError, wantsHelp } from "../../scripts/lib/cli.ts";
import { readDevStack } from "../../scripts/lib/local-stack.ts";
import { freePort } from "../../scripts/lib/stack.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Each CLI: its script, the arguments before the user's (db's command), and a command that needs a stack. */
const CLIS: { name: string; script: string; pre?: string[]; needs?: "database" | "api"; run?: string[] }[] = [
  { name: "keys", script: "keys.ts", needs: "database", run: ["list"] },
  { name: "db:migrate", script: "db.ts", pre: ["migrate"], needs: "database" },
  { name: "db:rollback", script: "db.ts", pre: ["rollback"] },
  { name: "db:status", script: "db.ts", pre: ["status"], needs: "database" },
  { name: "db:seed", script: "db.ts", pre: ["seed"] },
  { name: "escalate", script: "escalate.ts", needs: "database", run: [] },
  { name: "audit", script: "audit.ts", needs: "database", run: ["verify", "--database"] },
  { name: "ops", script: "ops.ts", needs: "api", run: ["status"] },
  { name: "policy", script: "policy.ts", needs: "api", run: ["export"] },
  { name: "load-test", script: "load-test.ts", needs: "api", run: ["--total", "1"] },
  { name: "receiver", script: "receiver.ts" },
  { name: "bench", script: "bench.ts" },
  { name: "receipts", script: "receipts.ts" },
  { name: "slack", script: "slack-sim.ts" },
  { name: "dev:env", script: "dev-env.ts" },
  { name: "runbook:check", script: "runbook-check.ts" },
  { name: "sdk:generate", script: "sdk-generate.ts", needs: "api", run: ["--url", "$API"] },
];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The reader's shell: none of a developer's own settings leak in. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extra };
  for (const name of [
    "DATABASE_URL",
    "POLICY_API_URL",
    "POLICY_API_KEY",
    "POLICY_AGENT_KEY",
    "POLICY_APPROVER_KEY",
  ])
    if (!(name in extra)) delete env[name];
  return env;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runChild(process.execPath, [path.join(ROOT, "scripts", script), ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    timeoutMs: 60_000,
  });
}

/** Runs the jobs two at a time (the machine is shared), in order. */
async function all<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      results[index] = await (jobs[index] as () => Promise<T>)();
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

/** No stack frames, no bare undefined, no node internals. */
function expectClean(label: string, ran: Ran): void {
  const output = `${ran.stdout}\n${ran.stderr}`;
  expect(output, label).not.toMatch(/^\s+at /m);
  expect(output, label).not.toMatch(/\bundefined\b/);
  expect(output, label).not.toContain("triggerUncaughtException");
  expect(output, label).not.toContain("ERR_PARSE_ARGS");
}

describe("every CLI answers --help and help", () => {
  it("prints its usage on stdout and exits 0", async () => {
    const jobs = CLIS.flatMap((cli) =>
      [["--help"], ["help"]].map((args) => async () => ({
        cli,
        args,
        ran: await run(cli.script, [...(cli.pre ?? []), ...args]),
      })),
    );
    for (const { cli, args, ran } of await all(jobs)) {
      const label = `${cli.name} ${args.join(" ")}: ${ran.stderr}`;
      expect(ran.code, label).toBe(0);
      expect(ran.stdout.toLowerCase(), label).toContain("usage");
      expect(ran.stdout, label).toContain("npm run");
      expectClean(label, ran);
    }
  }, 180_000);
});

describe("bad usage", () => {
  it("is exit 2 with one line saying what is wrong, then the usage or a hint: no stack trace", async () => {
    const jobs = CLIS.filter((cli) => cli.name !== "dev:env" || true).map((cli) => async () => ({
      cli,
      ran: await run(cli.script, [...(cli.pre ?? []), "--no-such-flag"]),
    }));
    for (const { cli, ran } of await all(jobs)) {
      const label = `${cli.name} --no-such-flag: ${ran.stderr}`;
      expect(ran.code, label).toBe(2);
      const [first = ""] = ran.stderr.split("\n");
      expect(first, label).toMatch(/no-such-flag|unknown|takes no arguments/i);
      expect(ran.stderr, label).toMatch(/usage/i);
      expectClean(label, ran);
    }
    // db without a known command, keys without a command: the same shape.
    const db = await run("db.ts", ["nope"]);
    expect(db.code).toBe(2);
    expect(db.stderr).toContain('unknown command "nope"');
    expect(db.stderr).toContain("usage: npm run db:nope -- --help");
    const keys = await run("keys.ts", []);
    expect(keys.code).toBe(2);
    expect(keys.stderr.trim().split("\n")).toEqual([
      "npm run keys: a command is required (create, list, revoke)",
      "usage: npm run keys -- --help",
    ]);
  }, 180_000);
});

describe("no stack at the address the CLI is given", () => {
  it("is exit 1 and one line naming the address and what to do", async () => {
    const port = await freePort(); // nothing listens there
    const env = {
      DATABASE_URL: `postgresql://postgres:postgres@127.0.0.1:${port}/policy`,
      POLICY_API_URL: `http://127.0.0.1:${port}`,
      POLICY_API_KEY: "pak_0123456789abcdef_not-a-real-key-not-a-real-key-000000000",
    };
    const jobs = CLIS.filter((cli) => cli.needs).map((cli) => async () => ({
      cli,
      ran: await run(
        cli.script,
        [...(cli.pre ?? []), ...(cli.run ?? []).map((arg) => arg.replace("$API", env.POLICY_API_URL))],
        cli.name === "load-test" ? { ...env, POLICY_AGENT_KEY: "a", POLICY_APPROVER_KEY: "b" } : env,
      ),
    }));
    for (const { cli, ran } of await all(jobs)) {
      const label = `${cli.name}: ${ran.stdout}${ran.stderr}`;
      expect(ran.code, label).toBe(1);
      const lines = ran.stderr.trim().split("\n");
      expect(lines, label).toHaveLength(1);
      expect(lines[0], label).toContain(`127.0.0.1:${port}`);
      if (cli.needs === "database") expect(lines[0], label).toMatch(/no Postgres at .*check DATABASE_URL/);
      else expect(lines[0], label).toMatch(/`npm run dev` running\? set POLICY_API_URL/);
      expectClean(label, ran);
    }
  }, 180_000);
});

describe("a bad port setting", () => {
  it("is one line and exit 2 for the CLIs that read it", async () => {
    for (const [script, args] of [
      ["keys.ts", ["list"]],
      ["ops.ts", ["status"]],
    ] as const) {
      const ran = await run(script, [...args], { EMBEDDED_PG_PORT: "abc" });
      expect(ran.code, ran.stderr).toBe(2);
      expect(ran.stderr.trim()).toBe(
        'EMBEDDED_PG_PORT must be a TCP port (1-65535), got "abc": fix or unset it',
      );
      expectClean(script, ran);
    }
  }, 60_000);
});

describe("the helpers", () => {
  const folder = mkdtempSync(path.join(os.tmpdir(), "dev-stack-"));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it("takes help from `help` first or --help/-h before a `--`", () => {
    expect(wantsHelp(["help"])).toBe(true);
    expect(wantsHelp(["list", "--help"])).toBe(true);
    expect(wantsHelp(["-h"])).toBe(true);
    expect(wantsHelp(["list"])).toBe(false);
    expect(wantsHelp(["create", "--", "--help"])).toBe(false);
    expect(wantsHelp(["list", "help"])).toBe(false);
  });

  it("reads the running stack's record, and ignores one a stopped `npm run dev` left behind", async () => {
    const file = path.join(folder, "dev-stack.json");
    const record = {
      pid: process.pid,
      host: "127.0.0.1",
      apiPort: 8100,
      postgresPort: 5733,
      gatewayPort: 4500,
    };
    writeFileSync(file, JSON.stringify({ ...record, api: "http://127.0.0.1:8100" }));
    expect(readDevStack(file)).toMatchObject(record);
    // A pid no process has: the stack stopped without removing its file.
    const gone = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
      child.once("exit", () => resolve(child.pid ?? 0));
    });
    writeFileSync(file, JSON.stringify({ ...record, pid: gone }));
    expect(readDevStack(file)).toBeUndefined();
    writeFileSync(file, "not json");
    expect(readDevStack(file)).toBeUndefined();
    expect(readDevStack(path.join(folder, "absent.json"))).toBeUndefined();
  });

  it("explains a refused connection with an empty message (the old bare `undefined`) in one line", () => {
    // vitest.config.ts pins DATABASE_URL; the reader's shell has none.
    const pinned = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      expectExplained();
    } finally {
      process.env.DATABASE_URL = pinned;
    }
  });
});

function expectExplained(): void {
  {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5733"), { code: "ECONNREFUSED" });
    const aggregate = new AggregateError([refused], "");
    expect(explain(aggregate)).toMatch(/^no Postgres at 127\.0\.0\.1:5733: is `npm run dev` running\?/);
    const fetchFailed = new TypeError("fetch failed", { cause: refused });
    expect(explain(fetchFailed)).toMatch(/^nothing answers at 127\.0\.0\.1:5733: is `npm run dev` running\?/);
    expect(explain(new UsageError("--rows: 0..10"))).toBe("--rows: 0..10");
    expect(explain(new Error("outer", { cause: new Error("inner") }))).toBe("outer (inner)");
    expect(explain(new Error(""))).toBe("unknown error");
  }
}
