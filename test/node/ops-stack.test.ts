// The operator CLI (scripts/lib/ops.ts) against a real worker (`wrangler dev` on a throwaway stack of
// its own), for the commands whose wire shape matters most: delegations add, list and revoke with an
// admin key naming the principal, a refusal's envelope, and contacts add reading its URL and secret
// from standard input (never from argv). test/node/ops.test.ts covers every command against a stand-in.
//
// The same stack also proves issue 25's "seen locally" (it is configured as `npm run dev` is): with the
// demo's contact points seeded by the function `npm run dev` uses, a request filed in `demo` that needs
// approval writes the approver's email to the .eml file wrangler names in its output (parsed back with
// postal-mime), and `npm run receiver` (scripts/receiver.ts, a child process here) prints the Teams and
// Google Chat cards and the verified approver webhook.
//
// And issue 26's Slack without Slack: the stack's SLACK_API_BASE_URL is the simulator of `npm run slack
// -- serve` (scripts/lib/slack-sim.ts, in-process here), as `npm run dev` sets it; `connect` connects demo
// through the admin API, a request's message arrives there, a signed approve click decides it and the
// message is updated to the outcome. A click signed with another secret, or by an unlinked user, is not.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import PostalMime from "postal-mime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEV_APPROVER_EMAIL,
  DEV_NOTIFY_EMAIL_FROM,
  DEV_TENANT,
  seedDevContacts,
} from "../../scripts/lib/dev-notifications.ts";
import { LOCAL } from "../../scripts/lib/local-stack.ts";
import { runOps } from "../../scripts/lib/ops.ts";
import {
  clickSlackSim,
  connectSlackSim,
  describeSlackCall,
  ensureSlackSimState,
  type SlackSimulator,
  slackSimReplies,
  startSlackSimulator,
} from "../../scripts/lib/slack-sim.ts";
import { freePort, type Stack, startStack, stopChild } from "../../scripts/lib/stack.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

/** Polls `find` every 250 ms until it answers, or fails after `timeoutMs` saying what was awaited. */
async function eventually<T>(what: string, find: () => T | undefined, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("npm run ops against a real worker (own stack)", () => {
  let stack: Stack | undefined;
  let receiver: ChildProcess | undefined;
  let slack: SlackSimulator | undefined;
  /** What `npm run slack -- serve` would print. */
  const slackPrinted: string[] = [];

  beforeAll(async () => {
    // Started first: the worker is told where Slack is when it starts, as `npm run dev` does.
    slack = await startSlackSimulator({ port: 0, print: (text) => slackPrinted.push(text) });
    stack = await startStack({ log: echoWorkerLine, vars: { SLACK_API_BASE_URL: slack.baseUrl } });
  }, 90_000);

  afterAll(async () => {
    if (receiver) await stopChild(receiver);
    await stack?.stop();
    await slack?.close();
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

  it("seen locally: the approver's email lands in a .eml file, the receiver prints the cards", async () => {
    if (!stack) throw new Error("stack did not start");
    const { api, keys } = stack;
    // A test-only secret in the accepted shape, given to the receiver through its environment.
    const contactSecret = `whsec_${Buffer.from("seen-locally-test-only-secret-32b").toString("base64")}`;
    const receiverPort = await freePort();
    const printed: string[] = [];
    const child = spawn(
      process.execPath,
      [path.join(LOCAL.root, "scripts/receiver.ts"), "--port", `${receiverPort}`],
      {
        cwd: LOCAL.root,
        env: { ...process.env, RECEIVER_CONTACT_SECRET: contactSecret },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    receiver = child;
    let pending = "";
    const onData = (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      printed.push(...lines);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    await eventually("the receiver to listen", () =>
      printed.some((line) => line.startsWith("webhook receiver on")) ? true : undefined,
    );

    // What `npm run dev` seeds, twice: the second run finds it in place.
    expect(await seedDevContacts(api, keys.admin ?? "", receiverPort)).toEqual([
      { channel: "email", outcome: "created" },
      { channel: "teams", outcome: "created" },
    ]);
    expect(await seedDevContacts(api, keys.admin ?? "", receiverPort)).toEqual([
      { channel: "email", outcome: "present" },
      { channel: "teams", outcome: "present" },
    ]);
    // The other two printers: a Google Chat card and the signed approver webhook, at the same receiver.
    const chat = await ops(
      ["contacts", "add", "--tenant", DEV_TENANT, "--channel", "google_chat", "--url-stdin"],
      `http://127.0.0.1:${receiverPort}/cards/chat\n`,
    );
    expect(chat.code, chat.stderr).toBe(0);
    const pager = await ops(
      ["contacts", "add", "--tenant", DEV_TENANT, "--channel", "webhook", "--url-stdin", "--secret-stdin"],
      `http://127.0.0.1:${receiverPort}/cards/pager\n${contactSecret}\n`,
    );
    expect(pager.code, pager.stderr).toBe(0);

    const filed = await fetch(`${api}/api/v1/policy/requests`, {
      method: "POST",
      headers: { Authorization: `Bearer ${keys.agent}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: DEV_TENANT,
        agent_id: "bot-1",
        payload: { amount: 120 },
        requested_by: "bot-1",
        justification: "monthly invoice",
      }),
    });
    const request = (await filed.json()) as { request_id: string; status: string };
    expect(filed.status).toBe(200);
    expect(request.status).toBe("pending");
    const id = request.request_id;

    // wrangler's own line: "send_email binding called with the following message:\nEmail: <path>".
    const emlPath = await eventually("wrangler's send_email line", () => {
      const at = stack?.output.findIndex((line) => line.includes("send_email binding called")) ?? -1;
      const next = at >= 0 ? stack?.output[at + 1] : undefined;
      return next ? /Email: (\S+\.eml)/.exec(next)?.[1] : undefined;
    });
    const email = await PostalMime.parse(readFileSync(emlPath));
    expect(email.from?.address).toBe(DEV_NOTIFY_EMAIL_FROM);
    expect(email.to?.map((to) => to.address)).toEqual([DEV_APPROVER_EMAIL]);
    expect(email.subject).toContain(id);
    expect(email.text).toContain(`${api}/console/requests/${id}?view=`);
    expect(email.html).toContain(`${api}/console/requests/${id}?view=`);

    const link = `link: ${api}/console/requests/${id}`;
    const block = (title: string) =>
      eventually(`the receiver's ${title}`, () => {
        const at = printed.findIndex((line) => line.includes(title));
        if (at < 0) return undefined;
        const end = printed.findIndex((line, index) => index > at && !line.startsWith("    "));
        const lines = printed.slice(at, end < 0 ? undefined : end);
        return lines.some((line) => line.trim() === link) ? lines.join("\n") : undefined;
      });
    const teams = await block("POST /cards/teams → 200  Teams card");
    expect(teams).toContain(`APPROVAL NEEDED: request ${id} (tenant demo, skill payments.transfer)`);
    expect(teams).toContain('Justification (the requester\'s words, quoted as data): "monthly invoice"');
    const googleChat = await block("POST /cards/chat → 200  Google Chat card");
    expect(googleChat).toContain(`Approval needed: payments.transfer (demo) ${id}`);
    const webhook = await block("POST /cards/pager → 200  approver webhook approval_needed");
    expect(webhook).toContain("webhook-signature ok (--contact-secret), webhook-id ntf_");
    expect(printed.join("\n")).not.toContain(contactSecret);
  }, 90_000);

  it("Slack locally: connect, the message at the simulator, signed approve and reject clicks, the updates", async () => {
    if (!stack || !slack) throw new Error("stack did not start");
    const { api, keys } = stack;
    const sim = slack;
    const state = ensureSlackSimState(stack.dataDir);
    expect(ensureSlackSimState(stack.dataDir)).toEqual(state);
    expect(state.bot_token).toMatch(/^xoxb-local-/);
    // Idempotent: the second run replaces the workspace with itself and finds the link in place.
    const connect = async () =>
      (await connectSlackSim(api, keys.admin ?? "", state)).map((step) => step.status);
    expect(await connect()).toEqual([201, 201]);
    expect(await connect()).toEqual([200, 200]);

    const filed = await fetch(`${api}/api/v1/policy/requests`, {
      method: "POST",
      headers: { Authorization: `Bearer ${keys.agent}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: DEV_TENANT,
        agent_id: "bot-1",
        payload: { amount: 140 },
        requested_by: "bot-1",
        justification: "<!channel> slack sim",
      }),
    });
    const request = (await filed.json()) as { request_id: string; status: string };
    expect(filed.status).toBe(200);
    expect(request.status).toBe("pending");
    const id = request.request_id;
    const about = (method: string) =>
      eventually(`${method} about ${id} at the simulator`, () =>
        sim.calls.find((call) => call.method === method && call.body.includes(id)),
      );
    const posted = await about("chat.postMessage");
    expect(posted.token).toBe(state.bot_token);
    const message = describeSlackCall(posted).join("\n");
    expect(message).toContain("channel CLOCAL");
    expect(message).toContain(`[Approve] (approve ${id})`);
    expect(message).toContain(`[Reject] (reject ${id})`);
    // The requester's words reach Slack as data: a literal rich-text quote (Slack parses no mention in
    // it), never in the mrkdwn Slack parses.
    const quoted = message.split("\n").filter((line) => line.includes("<!channel>"));
    expect(quoted).toEqual([expect.stringMatching(/^\s*> "<!channel> slack sim"$/)]);
    const blocks = (posted.json?.blocks ?? []) as { type: string; text?: { type: string; text: string } }[];
    for (const block of blocks)
      if (block.text?.type === "mrkdwn") expect(block.text.text).not.toContain("<!");

    const click = (options: { user?: string; secret?: string } = {}) =>
      clickSlackSim({
        api,
        simulator: sim.baseUrl,
        state: { ...state, signing_secret: options.secret ?? state.signing_secret },
        action: "approve",
        requestId: id,
        ...(options.user ? { user: options.user } : {}),
      });
    // Someone without the signing secret: refused before anything is read.
    const forged = await click({ secret: "0".repeat(32) });
    expect(forged.answers.map((step) => step.status)).toEqual([401]);
    // A Slack user of the team nobody linked: acknowledged, told why, nothing decided.
    const stranger = await click({ user: "ULOCALSTRANGER" });
    expect(stranger.answers.map((step) => step.status)).toEqual([200]);
    const reply = (responseUrl: string) =>
      eventually(`the reply on ${responseUrl}`, () =>
        sim.calls.find(
          (call) => call.method === "response_url" && call.path === new URL(responseUrl).pathname,
        ),
      );
    expect(describeSlackCall(await reply(stranger.responseUrl)).join("\n")).toMatch(/ephemeral: .*link/i);

    // The linked approver (ULOCALAPPROVER → dev-approver) approves: the reply, then the message updated.
    const approve = await click();
    expect(approve.answers.map((step) => step.status)).toEqual([200]);
    expect(String((await reply(approve.responseUrl)).json?.text)).toContain(id);
    expect(await slackSimReplies(approve.responseUrl)).toHaveLength(1);
    const updated = describeSlackCall(await about("chat.update")).join("\n");
    expect(updated).toContain("channel CLOCAL");
    expect(updated).toMatch(/approved/i);
    expect(updated).not.toContain("[Approve]");
    const read = await fetch(`${api}/api/v1/policy/requests/${id}`, {
      headers: { Authorization: `Bearer ${keys.admin}` },
    });
    expect(((await read.json()) as { status: string }).status).toBe("approved");
    // Nothing the forged click or the stranger sent reached the request: the one approval is dev-approver's.
    expect(sim.calls.filter((call) => call.method === "response_url")).toHaveLength(2);

    // Reject: the click opens the modal (views.open at the simulator), its submission carries the reason.
    const second = await fetch(`${api}/api/v1/policy/requests`, {
      method: "POST",
      headers: { Authorization: `Bearer ${keys.agent}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: DEV_TENANT,
        agent_id: "bot-1",
        payload: { amount: 150 },
        requested_by: "bot-1",
      }),
    });
    const rejectId = ((await second.json()) as { request_id: string }).request_id;
    await eventually(`chat.postMessage about ${rejectId}`, () =>
      sim.calls.find((call) => call.method === "chat.postMessage" && call.body.includes(rejectId)),
    );
    const reject = await clickSlackSim({
      api,
      simulator: sim.baseUrl,
      state,
      action: "reject",
      requestId: rejectId,
      reason: "not this month",
    });
    expect(reject.answers.map((step) => [step.what, step.status])).toEqual([
      ["block_actions reject", 200],
      ["view_submission policy_reject", 200],
    ]);
    const modal = await eventually("views.open", () =>
      sim.calls.find((call) => call.method === "views.open"),
    );
    expect(describeSlackCall(modal).join("\n")).toContain("(policy_reject)");
    await eventually(`chat.update about ${rejectId}`, () =>
      sim.calls.find((call) => call.method === "chat.update" && call.body.includes(rejectId)),
    );
    const rejected = await fetch(`${api}/api/v1/policy/requests/${rejectId}`, {
      headers: { Authorization: `Bearer ${keys.admin}` },
    });
    expect(((await rejected.json()) as { status: string }).status).toBe("rejected");
    // serve's printout: each call readably, the token only by its start.
    const printout = slackPrinted.join("\n");
    expect(printout).toContain(`[Approve] (approve ${id})`);
    expect(printout).toContain("views.open → 200");
    expect(printout).toMatch(/Reason \(quoted as data\):\n\s*> "not this month"/);
    expect(printout).toMatch(/response_url \/slack\/response\/click-\w+ → 200\n {4}ephemeral: /);
    expect(printout).not.toContain(state.bot_token);
  }, 90_000);
});
