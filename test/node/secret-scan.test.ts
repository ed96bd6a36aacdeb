// The scan behind "no secret in any log line of the suite": what it finds, and that the reporter
// really fails a run whose passing test logged a secret (a vitest of its own, on a fixture).
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { findSecrets } from "../helpers/secret-scan.ts";
import { TEST_ADMIN_API_KEY, TEST_SECRET_VALUES } from "../setup/test-secrets.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("findSecrets", () => {
  it("finds keys, signing secrets, connection strings, bearer tokens, secret fields, view tokens and known values", () => {
    const kinds = (text: string) => findSecrets(text, TEST_SECRET_VALUES).map((finding) => finding.kind);
    expect(kinds(`token pak_0123456789abcdef_${"x".repeat(43)} here`)).toEqual(["API key"]);
    expect(kinds("whsec_dGVzdC1vbmx5LXNpZ25pbmc=")).toEqual(["webhook signing secret"]);
    expect(kinds('{"error":"postgres://user:pw@host:5432/db refused"}')).toEqual([
      "database connection string",
    ]);
    expect(kinds("Authorization: Bearer abcdefghijklmnopqrstuvwxyz")).toEqual(["bearer token"]);
    expect(kinds('{"msg":"x","webhook_secret":"hunter2hunter2"}')).toEqual(["secret-named field"]);
    expect(kinds(`admin ${TEST_ADMIN_API_KEY}`)).toEqual(["known test secret"]);
    expect(kinds(`/console/requests/apr_0?view=eyJyIjoiYXByXzAiLCJwIjoiY2Fyb2wi.${"m".repeat(43)}`)).toEqual([
      "view token",
    ]);
  });

  it("passes what the service does log: key ids, hashes, field names, redactions", () => {
    const line = JSON.stringify({
      msg: "auth_failed",
      key_id: "0123456789abcdef",
      path: "/api/v1/policy/requests",
      details: { issues: [{ path: "webhook_secret", message: "too short" }] },
      has_webhook_secret: true,
      error: "params: (withheld from logs)",
    });
    expect(findSecrets(line, TEST_SECRET_VALUES)).toEqual([]);
  });

  it("masks the secret in what it reports", () => {
    const [finding] = findSecrets(`before pak_0123456789abcdef_${"y".repeat(43)} after`);
    expect(finding?.excerpt).toBe("before [SECRET] after");
  });
});

function runFixture(leak: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, "node_modules/vitest/vitest.mjs"),
        "run",
        "--config",
        "test/fixtures/secret-scan.vitest.config.ts",
      ],
      { cwd: ROOT, env: { ...process.env, LEAK: leak, CI: "true" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("the suite-wide scan (test/setup/secret-scan-reporter.ts)", () => {
  it("fails a run whose passing test logged a secret, and names the kind without repeating it", async () => {
    for (const [leak, kind] of [
      ["api_key", "API key"],
      ["database_url", "database connection string"],
      ["webhook_secret", "secret-named field"],
    ] as const) {
      const run = await runFixture(leak);
      expect(run.code, run.output).toBe(1);
      expect(run.output).toContain(`${kind} in `);
      expect(run.output).toContain("[SECRET]");
      expect(run.output).not.toContain("A".repeat(43));
      expect(run.output).not.toContain("u:p@db.example");
    }
  }, 90_000);

  it("passes a run with clean logs and says how many lines it read", async () => {
    const run = await runFixture("none");
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/secret scan: 1 log lines, no secrets/);
  }, 60_000);
});
