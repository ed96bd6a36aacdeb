// The local Slack simulator's pieces without a worker (issue 26): its clicks are signed as Slack signs
// them (checked with the worker's own src/domain/slack-signature.ts), a reject submits the modal with the
// reason, the stand-in credentials are kept 0600, and the CLI answers a bad option with its usage
// (exit 2, no stack trace), and its auth.test names the team as the worker's token check expects. The
// whole flow against a real worker: test/node/ops-stack.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FAKE_SLACK_DEFAULT_TEAM } from "../../scripts/lib/fake-slack.ts";
import { LOCAL } from "../../scripts/lib/local-stack.ts";
import {
  clickSlackSim,
  ensureSlackSimState,
  readSlackSimState,
  startSlackSimulator,
} from "../../scripts/lib/slack-sim.ts";
import { slackSignatureRefusal } from "../../src/domain/slack-signature.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "slack-sim-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npm run slack", () => {
  it("keeps one stand-in workspace, 0600; clicks are signed with its secret, a reject submits the reason", async () => {
    expect(readSlackSimState(dir)).toBeUndefined();
    const state = ensureSlackSimState(dir);
    expect(state).toMatchObject({
      team_id: "TLOCAL",
      bot_token: expect.stringMatching(/^xoxb-local-[0-9a-f]+$/),
    });
    expect(state.signing_secret).toMatch(/^[0-9a-f]{32}$/);
    expect(statSync(path.join(dir, "slack-sim.json")).mode & 0o777).toBe(0o600);
    expect(ensureSlackSimState(dir)).toEqual(state);

    const received: { url: string; headers: Record<string, string | string[] | undefined>; body: string }[] =
      [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      req.on("end", () => {
        received.push({ url: req.url ?? "", headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const { answers, responseUrl } = await clickSlackSim({
        api: `http://127.0.0.1:${port}`,
        simulator: "http://127.0.0.1:8790/slack/api/",
        state,
        action: "reject",
        requestId: "apr_0123456789abcdef",
        reason: "not <!here> this month",
      });
      expect(answers.map((step) => step.status)).toEqual([200, 200]);
      expect(responseUrl).toMatch(/^http:\/\/127\.0\.0\.1:8790\/slack\/response\/click-[0-9a-f]+$/);
      expect(received.map((post) => post.url)).toEqual([
        "/integrations/slack/demo/interactions",
        "/integrations/slack/demo/interactions",
      ]);
      const payloads = [];
      for (const post of received) {
        expect(post.headers["content-type"]).toBe("application/x-www-form-urlencoded");
        const signed = {
          signature: String(post.headers["x-slack-signature"]),
          timestamp: String(post.headers["x-slack-request-timestamp"]),
          rawBody: post.body,
        };
        // The worker's own check passes with the workspace's secret, and fails with any other.
        expect(await slackSignatureRefusal(signed, state.signing_secret, Date.now())).toBeNull();
        expect(await slackSignatureRefusal(signed, "0".repeat(32), Date.now())).toBe("mismatch");
        payloads.push(JSON.parse(new URLSearchParams(post.body).get("payload") ?? "null"));
      }
      expect(payloads[0]).toMatchObject({
        type: "block_actions",
        team: { id: "TLOCAL" },
        user: { id: "ULOCALAPPROVER", team_id: "TLOCAL" },
        response_url: responseUrl,
        actions: [{ action_id: "reject", value: "apr_0123456789abcdef" }],
      });
      expect(payloads[1]).toMatchObject({
        type: "view_submission",
        view: {
          callback_id: "policy_reject",
          private_metadata: JSON.stringify({ request_id: "apr_0123456789abcdef", response_url: responseUrl }),
          state: { values: { reason: { reason: { value: "not <!here> this month" } } } },
        },
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("answers auth.test as Slack does: the team the token names, else the simulator's own team", async () => {
    const sim = await startSlackSimulator({ port: 0 });
    try {
      const authTest = async (token: string) =>
        (await (
          await fetch(`${sim.baseUrl}auth.test`, {
            method: "POST",
            headers: { Authorization: `Bearer ${token}` },
          })
        ).json()) as Record<string, unknown>;
      const state = ensureSlackSimState(dir);
      // The stand-in workspace's token passes as its own team: `npm run slack -- connect` is accepted.
      expect(await authTest(state.bot_token)).toMatchObject({ ok: true, team_id: state.team_id });
      expect(state.team_id).toBe(FAKE_SLACK_DEFAULT_TEAM);
      expect(await authTest("xoxb-T0ABC123-1-x")).toEqual({
        ok: true,
        url: "https://t0abc123.slack.test/",
        team: "Fake team T0ABC123",
        user: "policy-api",
        team_id: "T0ABC123",
        user_id: "U0ABC123BOT",
        bot_id: "B0ABC123BOT",
      });
      expect(await authTest("xoxb-T0ABC123-invalid-1")).toEqual({ ok: false, error: "invalid_auth" });
      expect(sim.calls.map((c) => c.method)).toEqual(["auth.test", "auth.test", "auth.test"]);
    } finally {
      await sim.close();
    }
  });

  it("--help prints the usage; a bad option or command is exit 2 with the usage, never a stack trace", () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(LOCAL.root, "scripts/slack-sim.ts"), ...args], {
        cwd: LOCAL.root,
        encoding: "utf8",
        timeout: 20_000,
      });
    const help = run("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("click reject <request_id> [--user U…] [--reason");
    for (const args of [["--bogus"], ["click", "maybe", "apr_1"], ["click", "approve"], ["nope"]]) {
      const bad = run(...args);
      expect(bad.status, args.join(" ")).toBe(2);
      expect(bad.stderr).toContain("npm run slack -- <command>");
      expect(bad.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
