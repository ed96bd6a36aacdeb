// The operator CLI (scripts/lib/ops.ts) against a real worker (`wrangler dev` on a throwaway stack of
// its own), for the commands whose wire shape matters most: delegations add, list and revoke with an
// admin key naming the principal, a refusal's envelope, and contacts add reading its URL and secret
// from standard input (never from argv). test/node/ops.test.ts covers every command against a stand-in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runOps } from "../../scripts/lib/ops.ts";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

describe("npm run ops against a real worker (own stack)", () => {
  let stack: Stack | undefined;

  beforeAll(async () => {
    stack = await startStack({ log: echoWorkerLine });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 30_000);

  async function ops(argv: string[], stdin = "") {
    if (!stack) throw new Error("stack did not start");
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runOps(argv, {
      fetch: globalThis.fetch,
      env: { POLICY_API_URL: stack.api, POLICY_API_KEY: stack.keys.admin },
      write: (text, stream = "stdout") => (stream === "stdout" ? stdout : stderr).push(text),
      readLines: async (count) => stdin.split("\n").slice(0, count),
    });
    return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
  }

  it("delegations add (naming the principal), list --active, revoke; a bad period is a 400, exit 1", async () => {
    const until = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const add = await ops([
      "delegations",
      "add",
      "--principal",
      "Carol",
      "--delegate",
      "bob",
      "--until",
      until,
      "--tenant",
      "demo",
      "--reason",
      "on leave",
      "--json",
    ]);
    expect(add.code, add.stderr).toBe(0);
    const created = JSON.parse(add.stdout);
    // Ids are folded to their canonical form; the delegation is carol's, not the admin key's own.
    expect(created).toMatchObject({
      principal_id: "carol",
      delegate_id: "bob",
      tenant_id: "demo",
      reason: "on leave",
    });
    const list = await ops(["delegations", "list", "--principal", "carol", "--active"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`\\n${created.id}\\s+carol\\s+bob\\s+demo\\s`));
    const revoke = await ops(["delegations", "revoke", String(created.id)]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(`Revoked delegation ${created.id}: bob no longer stands in for carol`);
    expect((await ops(["delegations", "list", "--principal", "carol", "--active"])).stdout).toBe(
      "0 delegations in force",
    );
    const backwards = await ops([
      "delegations",
      "add",
      "--principal",
      "carol",
      "--delegate",
      "bob",
      "--until",
      "2020-01-01T00:00:00Z",
    ]);
    expect(backwards.code).toBe(1);
    expect(backwards.stderr).toMatch(/ops delegations failed: POST \/api\/v1\/delegations: 400 \w+/);
  }, 30_000);

  it("contacts add --url-stdin --secret-stdin stores them without printing either", async () => {
    const url = "https://hooks.example.org/ops-stack-path-secret";
    // A test-only secret in the accepted shape (whsec_ + base64 of 32 bytes), not a real one.
    const secret = "whsec_b3BzLXN0YWNrLXRlc3Qtb25seS1zZWNyZXQtYnl0ZXM=";
    const add = await ops(
      ["contacts", "add", "--tenant", "demo", "--channel", "webhook", "--url-stdin", "--secret-stdin"],
      `${url}\n${secret}\n`,
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/has_secret\s+true/);
    expect(add.stdout).toContain("hooks.example.org");
    expect(`${add.stdout}${add.stderr}`).not.toContain("ops-stack-path-secret");
    expect(`${add.stdout}${add.stderr}`).not.toContain(secret);
  }, 30_000);
});
