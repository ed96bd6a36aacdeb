// The README's quick start and the docs' blocks marked `<!-- run -->` run verbatim, in order, against a
// throwaway stack (scripts/lib/doc-run.ts); a block that fails, or whose output no longer matches the
// output shown after it in shape, fails the test. Blocks marked `<!-- skip: reason -->` are listed.
// (The README's agent snippets and policy walkthrough run in readme-snippets / policy-cli tests.)
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BlockResult, markedBlocks, outputMismatch, runDocBlocks } from "../../scripts/lib/doc-run.ts";
import { LOCAL } from "../../scripts/lib/local-stack.ts";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

const TOOLS = ["bash", "curl", "jq"];
const missing = TOOLS.filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
if (missing.length > 0) {
  const message = `README check: ${missing.join(", ")} not on PATH; the README's commands need them.`;
  if (process.env.CI === "true") throw new Error(message);
  console.warn(`\n!!! ${message} SKIPPING the README check.\n`);
}

const FILES = [
  "README.md",
  ...readdirSync(path.join(LOCAL.root, "docs")).map((name) => `docs/${name}`),
].filter((file) => file.endsWith(".md"));

describe("finding the marked blocks and comparing output shapes", () => {
  it("takes run and skip markers, the output block after a run block, and nothing unmarked", () => {
    const blocks = markedBlocks(
      [
        "<!-- run -->",
        "```",
        "echo one",
        "```",
        "",
        "```text",
        "1",
        "```",
        "```",
        "not marked",
        "```",
        "<!-- skip: needs-cloudflare -->",
        "```",
        "npx wrangler deploy",
        "```",
      ].join("\n"),
      "X.md",
    );
    expect(blocks).toEqual([
      { file: "X.md", line: 2, code: "echo one", mode: "run", output: { lang: "text", text: "1" } },
      { file: "X.md", line: 13, code: "npx wrangler deploy", mode: "skip", reason: "needs-cloudflare" },
    ]);
  });

  it("matches shapes, not values", () => {
    const shown = { lang: "json", text: '{"status":"ok","database":{"ok":true,"latency_ms":6}}' };
    expect(
      outputMismatch('{"status":"degraded","database":{"ok":false,"latency_ms":900}}', shown),
    ).toBeUndefined();
    expect(outputMismatch('{"status":"ok","database":{"ok":true}}', shown)).toMatch(/keys differ/);
    expect(outputMismatch('{"status":1,"database":{"ok":true,"latency_ms":6}}', shown)).toMatch(/number/);
    expect(outputMismatch("not json", shown)).toMatch(/not JSON/);
    const lines = { lang: "text", text: '{"decision":"x"}\napproved' };
    expect(outputMismatch('{"decision":"allow"}\nrejected\n', lines)).toBeUndefined();
    expect(outputMismatch('{"verdict":"allow"}\nrejected', lines)).toMatch(/line 1: .*keys differ/);
    expect(outputMismatch("approved", lines)).toMatch(/1 line\(s\) of output, 2 shown/);
  });
});

describe.skipIf(missing.length > 0)("README.md and docs/*.md against a running stack", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ log: echoWorkerLine });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  /** A fresh reader's shell: no key set, the stack's address and keys where `npm run dev` puts them. */
  function readerEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      POLICY_API_URL: stack.api,
      DEV_KEYS_FILE: path.join(stack.dataDir, "dev-keys.json"),
      NO_COLOR: "1",
    };
    for (const name of [
      "API",
      "ADMIN_KEY",
      "AGENT_KEY",
      "APPROVER_KEY",
      "ID",
      "DATABASE_URL",
      "POLICY_API_KEY",
    ])
      delete env[name];
    delete env.POLICY_AGENT_KEY;
    return env;
  }

  const report = (results: BlockResult[]) =>
    results
      .filter((result) => result.outcome === "failed")
      .map((result) => `${result.block.file}:${result.block.line}\n${result.block.code}\n  ${result.detail}`)
      .join("\n\n");

  it("runs every block marked runnable, in order; the quick start reaches an approved request", async () => {
    const all: BlockResult[] = [];
    for (const file of FILES) {
      const blocks = markedBlocks(readFileSync(path.join(LOCAL.root, file), "utf8"), file);
      if (blocks.length === 0) continue;
      // The README sets its variables itself (its quick start's eval); the docs assume that was done.
      const setup = file === "README.md" ? "" : 'eval "$(npm run -s dev:env)"';
      all.push(...(await runDocBlocks(blocks, readerEnv(), setup)));
    }
    expect(report(all)).toBe("");
    const readme = all.filter((result) => result.block.file === "README.md" && result.outcome === "ok");
    expect(readme.length).toBeGreaterThanOrEqual(2);
    // The quick start's last line: the request approved by the approver key.
    expect(readme[0]?.detail).toMatch(/"status":"approved","may_proceed":true,"by":"dev-approver"/);
    // What is not run, by name: each needs something this machine has not (a cloud account, a tool).
    const skipped = all.filter((result) => result.outcome === "skipped");
    expect(skipped.map((result) => `${result.block.file}: ${result.detail}`).sort()).toEqual([
      "docs/DEPLOY.md: needs-cloudflare",
      "docs/DEPLOY.md: needs-promtool",
      "docs/DEVELOPMENT.md: needs-neon",
    ]);
    expect(all.filter((result) => result.outcome === "ok").length).toBeGreaterThanOrEqual(5);
  }, 120_000);

  it("fails on a block that fails and on output that changed shape", async () => {
    const blocks = markedBlocks(
      [
        "<!-- run -->",
        "```",
        'curl -s "$POLICY_API_URL/health" | jq -c "{status}"',
        "```",
        "```json",
        '{"state":"ok"}',
        "```",
        "<!-- run -->",
        "```",
        'curl -s "$POLICY_API_URL/api/v1/no-such-route"',
        "```",
      ].join("\n"),
      "BROKEN.md",
    );
    const results = await runDocBlocks(blocks, readerEnv());
    expect(results.map((result) => result.outcome)).toEqual(["failed", "failed"]);
    expect(results[0]?.detail).toMatch(/keys differ/);
    expect(results[1]?.detail).toMatch(/exit 22/);
  }, 60_000);
});
