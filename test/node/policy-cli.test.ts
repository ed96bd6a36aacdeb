// The policy CLI (scripts/lib/policy-cli.ts, npm run policy) against a real worker on a throwaway stack
// of its own (one for the file): export a tenant to YAML, edit the file, validate, apply; an apply
// from a stale file is refused with the live base; a malformed file's problems come back as
// `file:line: path: message`; every subcommand answers --help; bad usage is one line and exit 2.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runChild } from "../../scripts/lib/child-process.ts";
import { LOCAL } from "../../scripts/lib/local-stack.ts";
import { runPolicy, SUBCOMMANDS } from "../../scripts/lib/policy-cli.ts";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

describe("npm run policy against a real worker (own stack)", () => {
  let stack: Stack | undefined;
  let dir = "";

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "policy-cli-"));
    stack = await startStack({ log: echoWorkerLine });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  async function policy(argv: string[]) {
    if (!stack) throw new Error("stack did not start");
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runPolicy(argv, {
      fetch: globalThis.fetch,
      env: { POLICY_API_URL: stack.api, POLICY_API_KEY: stack.keys.admin },
      write: (text, stream = "stdout") => (stream === "stdout" ? stdout : stderr).push(text),
    });
    return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
  }

  it("export → edit the YAML → validate → apply; then the same file again changes nothing", async () => {
    const file = path.join(dir, "demo.yaml");
    const exported = await policy(["export", "--scope", "demo", "--out", file]);
    expect(exported.code, exported.stderr).toBe(0);
    const text = readFileSync(file, "utf8");
    expect(text).toMatch(/^# Policy bundle of scope demo/);
    const doc = parse(text) as Record<string, unknown>;
    expect(doc).toMatchObject({ format: "policy-bundle/v1", scope: "demo" });
    expect(doc["x-base-sha256"]).toMatch(/^[0-9a-f]{64}$/);

    // The edit a reviewer would make: one more budget.
    writeFileSync(
      file,
      `${text}\n`.replace(
        /^budgets:.*$/m,
        "budgets:\n  - tenant_id: demo\n    period: month\n    limit_cents: 123456\n    enforcement: soft\n    agent_id: cli-test-agent\n    enabled: true",
      ),
    );
    const validated = await policy(["validate", file]);
    expect(validated.code, validated.stderr).toBe(0);
    expect(validated.stdout).toMatch(/valid bundle of scope demo/);
    expect(validated.stdout).toMatch(/budgets: 1 added/);

    const applied = await policy(["apply", file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/applied 1 change\(s\)/);

    const again = await policy(["export", "--scope", "demo", "--json"]);
    const live = JSON.parse(again.stdout) as {
      bundle: { budgets: Record<string, unknown>[] };
      base_sha256: string;
    };
    expect(live.bundle.budgets).toContainEqual(
      expect.objectContaining({ agent_id: "cli-test-agent", limit_cents: 123456 }),
    );

    // The file's base is stale now (the apply changed the live policy): refused, with the live base.
    const stale = await policy(["apply", file]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/conflict/);
    expect(stale.stderr).toContain(live.base_sha256);
    // With the live base named, the same content changes nothing.
    const same = await policy(["apply", file, "--expect", live.base_sha256]);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/applied 0 change\(s\)/);
  });

  it("plan: the window's decisions replayed against an edited file, as a table by tenant and skill", async () => {
    if (!stack) throw new Error("stack did not start");
    // Traffic for the window: three web searches by bot-1, allowed by the live policy.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${stack.api}/api/v1/policy/eval`, {
        method: "POST",
        headers: { Authorization: `Bearer ${stack.keys.agent}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          skill_id: "search.web",
          tenant_id: "demo",
          agent_id: "bot-1",
          payload: { q: i },
        }),
      });
      expect((await res.json()) as { decision: string }).toMatchObject({ decision: "allow" });
    }
    const file = path.join(dir, "plan.yaml");
    expect((await policy(["export", "--scope", "demo", "--out", file])).code).toBe(0);
    // The edit: web searches need an approver.
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        /^capability_rules:.*$/m,
        "capability_rules:\n  - tenant_id: demo\n    skill_pattern: search.*\n    effect: require_approval\n    approval_level: agent_approve",
      ),
    );
    // The decision log is written after the answer (through a queue): wait until the plan sees all three.
    let planned = { code: -1, stdout: "", stderr: "" };
    for (let attempt = 0; attempt < 40; attempt++) {
      planned = await policy(["plan", file, "--since", "1h"]);
      if (/search\.web\s+auto-approved → needs approval\s+3\b/.test(planned.stdout)) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toMatch(/^Plan for scope demo: /);
    expect(planned.stdout).toMatch(/demo\s+search\.web\s+auto-approved → needs approval\s+3\s+dec_/);
    const json = await policy(["plan", file, "--since", "1h", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      scope: "demo",
      totals: { allow_to_requires_approval: 3 },
    });
    // Bad usage is a usage error, not a call.
    expect((await policy(["plan", file, "--since", "yesterday"])).code).toBe(2);
  });

  it("a malformed file: each problem as file:line: path: message, exit 1; a YAML syntax error too", async () => {
    const file = path.join(dir, "bad.yaml");
    writeFileSync(
      file,
      [
        "format: policy-bundle/v1",
        "scope: demo",
        "budgets:",
        "  - tenant_id: demo",
        "    period: day",
        "    limit_cents: lots",
        "capability_rules:",
        "  - tenant_id: other",
        "    skill_pattern: '*'",
        "    effect: deny",
        "",
      ].join("\n"),
    );
    const bad = await policy(["validate", file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${file}:6: budgets[0].limit_cents:`);
    const dup = path.join(dir, "dup.yaml");
    writeFileSync(dup, "format: policy-bundle/v1\nscope: demo\nscope: other\n");
    const duplicate = await policy(["validate", dup]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(new RegExp(`^${dup.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3: `));
    const json = path.join(dir, "bad.json");
    writeFileSync(
      json,
      '{\n  "format": "policy-bundle/v1",\n  "scope": "demo",\n  "budgets": [{"tenant_id": "demo", "period": "day", "limit_cents": 1, "x": 1}]\n}\n',
    );
    const unknown = await policy(["validate", json]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`${json}:4: budgets[0]:`);
  });

  it("README's policy-as-code walkthrough, run as written: export, a search, the edit, validate, plan, shadow, apply", async () => {
    if (!stack) throw new Error("stack did not start");
    const blocks = readmeSection("## Policy as code");
    const [setup, rule, steps] = [blocks[0], blocks[1], blocks[2]];
    if (!setup || !rule || !steps || !rule.code.startsWith("  - "))
      throw new Error("README's policy section changed shape");
    // The reader's checkout: the scripts through links, the keys `npm run dev` would have written.
    const folder = mkdtempSync(path.join(os.tmpdir(), "readme-policy-"));
    try {
      for (const name of ["package.json", "node_modules", "scripts", "src", "schemas"]) {
        symlinkSync(path.join(LOCAL.root, name), path.join(folder, name));
      }
      mkdirSync(path.join(folder, ".data"));
      writeFileSync(path.join(folder, ".data/dev-keys.json"), JSON.stringify(stack.keys));
      // The tour's shell: $API and $AGENT_KEY are set; the stack is not on npm run dev's port.
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        API: stack.api,
        AGENT_KEY: stack.keys.agent ?? "",
        POLICY_API_URL: stack.api,
      };
      delete env.POLICY_API_KEY;
      // Async: the stack's gateway runs in this process, so a blocking spawn would stall the worker's queries.
      const bash = async (code: string) => {
        const {
          code: status,
          stdout,
          stderr,
        } = await runChild("bash", ["-c", `set -euo pipefail\n${code}`], {
          cwd: folder,
          env,
          timeoutMs: 120_000,
        });
        return { status, stdout, stderr };
      };

      const first = await bash(setup.code);
      expect(first.status, first.stderr).toBe(0);
      expect(first.stdout.trim().split("\n").at(-1)).toBe("allow");
      // The search's decision is logged after its answer: the plan below should see it.
      const db = new pg.Client({ connectionString: stack.databaseUrl });
      await db.connect();
      try {
        for (let i = 0; i < 80; i++) {
          const seen = await db.query(
            "SELECT 1 FROM policy_decisions WHERE skill_id = 'search.web' AND created_at > now() - interval '1 minute'",
          );
          if (seen.rowCount) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      } finally {
        await db.end();
      }

      // The edit the README asks for, its YAML as written, under capability_rules:.
      const file = path.join(folder, "demo.yaml");
      writeFileSync(
        file,
        readFileSync(file, "utf8").replace(
          /^capability_rules:.*$/m,
          `capability_rules:\n${rule.code.trimEnd()}`,
        ),
      );
      // The same shell: what the first block exported is still set.
      const exported = setup.code
        .split("\n")
        .filter((line) => line.startsWith("export "))
        .join("\n");
      const run = await bash(`${exported}\n${steps.code}`);
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/capability_rules: 1 added/);
      expect(run.stdout).toMatch(/demo\s+search\.web\s+auto-approved → needs approval\s+\d+/);
      expect(run.stdout).toMatch(/candidate pcd_[0-9a-f]{16} shadows scope demo/);
      expect(run.stdout).toMatch(/applied 1 change\(s\)/);
      // In force now: the same search needs an approver.
      const after = await fetch(`${stack.api}/api/v1/policy/eval`, {
        method: "POST",
        headers: { Authorization: `Bearer ${stack.keys.agent}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          skill_id: "search.web",
          tenant_id: "demo",
          agent_id: "bot-1",
          payload: { q: "x" },
        }),
      });
      expect(((await after.json()) as { decision: string }).decision).toBe("requires_approval");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);

  it("examples/gitops/policy-plan.yml: its validate-and-plan step, run as written, writes the plan comment", async () => {
    if (!stack) throw new Error("stack did not start");
    const workflow = parse(
      readFileSync(path.join(LOCAL.root, "examples/gitops/policy-plan.yml"), "utf8"),
    ) as {
      jobs: Record<string, { steps: { name?: string; run?: string }[] }>;
    };
    const step = workflow.jobs.plan?.steps.find(
      (candidate) => candidate.name === "Validate and plan each changed bundle",
    );
    if (!step?.run) throw new Error("the workflow's plan step changed shape");
    // Every policy command the workflow runs is one the CLI has.
    const commands = [...JSON.stringify(workflow).matchAll(/npm run -s policy -- (\w+)/g)].map(
      (match) => match[1],
    );
    expect(commands.length).toBeGreaterThan(0);
    for (const name of commands) expect(SUBCOMMANDS.map((command) => command.name)).toContain(name);

    const folder = mkdtempSync(path.join(os.tmpdir(), "gitops-"));
    try {
      for (const name of ["package.json", "node_modules", "scripts", "src", "schemas"]) {
        symlinkSync(path.join(LOCAL.root, name), path.join(folder, name));
      }
      mkdirSync(path.join(folder, "policy"));
      expect(
        (await policy(["export", "--scope", "demo", "--out", path.join(folder, "policy/demo.yaml")])).code,
      ).toBe(0);
      const env = { ...process.env, POLICY_API_URL: stack.api, POLICY_API_KEY: stack.keys.admin ?? "" };
      // GitHub runs `run:` steps with bash -e; async, so the in-process gateway keeps serving.
      const result = await runChild("bash", ["-e", "-c", step.run ?? ""], {
        cwd: folder,
        env,
        timeoutMs: 120_000,
      });
      expect(result.code, result.stderr).toBe(0);
      const comment = readFileSync(path.join(folder, "plan.md"), "utf8");
      expect(comment).toMatch(/^### policy\/demo\.yaml$/m);
      expect(comment).toMatch(/valid bundle of scope demo/);
      expect(comment).toMatch(/^Plan for scope demo: /m);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);

  it("help, --help per subcommand, bad usage (exit 2, one line then usage, never a stack trace)", async () => {
    const help = await policy(["help"]);
    expect(help.code).toBe(0);
    for (const command of SUBCOMMANDS) {
      expect(help.stdout).toContain(command.usage);
      const own = await policy([command.name, "--help"]);
      expect(own.code).toBe(0);
      expect(own.stdout).toContain(`usage: npm run policy -- ${command.usage}`);
    }
    const unknown = await policy(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split("\n")[0]).toBe("unknown command: frobnicate");
    const noFile = await policy(["validate"]);
    expect(noFile.code).toBe(2);
    const noBase = path.join(dir, "nobase.json");
    writeFileSync(noBase, '{"format": "policy-bundle/v1", "scope": "demo"}');
    const apply = await policy(["apply", noBase]);
    expect(apply.code).toBe(2);
    expect(apply.stderr).toMatch(/no x-base-sha256/);

    // The real entry point: a bad flag is exit 2 with no stack trace.
    const child = spawnSync(process.execPath, ["scripts/policy.ts", "export", "--nope"], {
      cwd: LOCAL.root,
      env: { ...process.env, POLICY_API_KEY: "pak_unused" },
      encoding: "utf8",
    });
    expect(child.status).toBe(2);
    expect(child.stderr).toMatch(/^Unknown option '--nope'/);
    expect(child.stderr).not.toMatch(/\n\s+at /);
  });
});

/** The fenced blocks of one README section, in order. */
function readmeSection(title: string): { lang: string; code: string }[] {
  const text = readFileSync(path.join(LOCAL.root, "README.md"), "utf8");
  const start = text.indexOf(`\n${title}\n`);
  if (start < 0) throw new Error(`README.md has no "${title}" section`);
  const end = text.indexOf("\n## ", start + title.length + 2);
  const section = text.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((match) => ({
    lang: match[1] ?? "",
    code: match[2] ?? "",
  }));
}
