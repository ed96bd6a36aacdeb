// docs/RUNBOOK.md cannot rot: every command it shows runs against a throwaway local stack
// (scripts/lib/runbook-check.ts), and the check itself is shown to fail on a broken command.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CommandResult, checkRunbook, extractCommands } from "../../scripts/lib/runbook-check.ts";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

const TOOLS = ["bash", "curl", "jq", "psql", "openssl"];
const missing = TOOLS.filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
if (missing.length > 0) {
  const message = `runbook check: ${missing.join(", ")} not on PATH; the runbook's commands need them (Debian: apt-get install ${missing.map((tool) => (tool === "psql" ? "postgresql-client" : tool)).join(" ")}).`;
  // Under CI the check never skips: .ci/run installs the tools.
  if (process.env.CI === "true") throw new Error(message);
  console.warn(`\n!!! ${message} SKIPPING the runbook check.\n`);
}

describe("extracting the runbook's commands", () => {
  it("joins continuation lines, keeps block assignments, skips comments and non-bash blocks", () => {
    const commands = extractCommands(
      [
        "## Section A",
        "Run `npm run ops -- status` or `SELECT 1`, not `--format json`.",
        "```bash",
        "# a comment",
        'NEW="x"',
        "psql \\",
        '  -c "SELECT 2;"',
        "echo $NEW",
        "```",
        "```",
        "not a command",
        "```",
      ].join("\n"),
    );
    expect(
      commands.map(({ line, section, text, kind, assignments }) => ({
        line,
        section,
        text,
        kind,
        assignments,
      })),
    ).toEqual([
      { line: 2, section: "Section A", text: "npm run ops -- status", kind: "inline", assignments: [] },
      { line: 2, section: "Section A", text: "SELECT 1", kind: "inline", assignments: [] },
      { line: 6, section: "Section A", text: 'psql -c "SELECT 2;"', kind: "block", assignments: ['NEW="x"'] },
      { line: 8, section: "Section A", text: "echo $NEW", kind: "block", assignments: ['NEW="x"'] },
    ]);
  });
});

describe.skipIf(missing.length > 0)("docs/RUNBOOK.md against a running stack", () => {
  let stack: Stack;
  beforeAll(async () => {
    // The worker's log lines go to the suite-wide secret scan.
    stack = await startStack({ log: echoWorkerLine });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const report = (results: CommandResult[]) =>
    results
      .filter((result) => result.outcome === "failed")
      .map(
        (result) =>
          `line ${result.command.line}: ${result.command.text}\n  ran: ${result.ran}\n  ${result.detail}`,
      )
      .join("\n\n");

  it("runs every command it shows, and only a short, explained list is not run", async () => {
    const results = await checkRunbook(stack);
    expect(report(results)).toBe("");
    const ran = results.filter((result) => result.outcome === "ok");
    expect(ran.length).toBeGreaterThan(90);
    const notRun = results.filter((result) => result.outcome === "not run");
    expect(new Set(notRun.map((result) => result.command.text.split(/\s+#/)[0]?.trim()))).toEqual(
      new Set([
        "npm run dev",
        "npm run types",
        "npm run format",
        "npm run lock:repair",
        "npm run runbook:check",
        "npm run bench",
        expect.stringContaining("FROM policy_api_metrics"),
      ]),
    );
    // The wrangler stand-in fed real worker log lines to the runbook's jq filters.
    const authFilter = results.find((result) => result.command.text.includes('.msg == "auth_failed"'));
    expect(authFilter?.detail).toContain('"msg":"auth_failed"');
  }, 300_000);

  it("fails on a broken command: an unknown route, column, script, wrangler flag or placeholder", async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "runbook-")), "BROKEN.md");
    writeFileSync(
      file,
      [
        "```bash",
        'curl -s "$API/api/v1/no-such-route" -H "Authorization: Bearer $ADMIN_KEY" | jq .',
        'psql "$NEON_URL" -c "SELECT no_such_column FROM approval_requests;"',
        "npm run no-such-script",
        "npx wrangler tail --no-such-flag",
        "npx wrangler queues inspect policy-webhooks",
        'curl -s "$API/api/v1/admin/keys/<unknown_thing>" -H "Authorization: Bearer $ADMIN_KEY"',
        'curl -s "$API/health" | jq .status',
        "```",
        "Inline SQL too: `UPDATE approval_requests SET no_such_column = 1;`",
      ].join("\n"),
    );
    const results = await checkRunbook(stack, { file });
    expect(results.map((result) => result.outcome)).toEqual([
      "failed",
      "failed",
      "failed",
      "failed",
      "failed",
      "failed",
      "ok",
      "failed",
    ]);
    expect(results[3]?.detail).toContain("has no --no-such-flag option");
    expect(results[4]?.detail).toContain('"wrangler queues inspect" is not a command');
    expect(results[5]?.detail).toContain("unknown placeholder <unknown_thing>");
  }, 120_000);
});
