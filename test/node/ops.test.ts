// The operator CLI (scripts/lib/ops.ts) against a stand-in for the API: a local node:http server that
// records each call and answers canned JSON. Checks that every command makes the right call, that
// tables and --json print what the API answered, and the exit codes (1 API refusal, 2 usage).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runOps } from "../../scripts/lib/ops.ts";

const KEY = "pak_test_admin";
const REQUEST_ID = "apr_0123456789abcdef";
/** A generated contact webhook secret as the API answers it once (not a real one). */
const CONTACT_SECRET = "whsec_dGVzdC1vbmx5LWNvbnRhY3Qtc2VjcmV0LWJ5dGVzLTMy";

interface Recorded {
  method: string;
  path: string;
  body: unknown;
  authorization: string | undefined;
}

const SWITCH_PAUSED = {
  paused: true,
  reason: "incident 42",
  changed_by: "ops",
  changed_at: "2025-01-01T00:00:00.000Z",
  last_run: { expired: 3, escalated: 1, paused: false },
  last_run_at: "2025-01-01T00:01:00.000Z",
};
const SWITCH_RUNNING = { ...SWITCH_PAUSED, paused: false, reason: "resolved" };

const SLACK_WORKSPACE = {
  tenant_id: "acme",
  team_id: "T024BE7LD",
  default_channel: "C024BE91L",
  routes: [],
  max_decide_level: 4,
  has_bot_token: true,
  has_signing_secret: true,
  created_by: "ops",
  created_at: "2025-01-01T00:00:00.000Z",
  updated_by: "ops",
  updated_at: "2025-01-01T00:00:00.000Z",
};
const SLACK_LINK = {
  tenant_id: "acme",
  team_id: "T024BE7LD",
  slack_user_id: "U024BE7LH",
  principal_id: "carol",
  method: "admin",
  linked_by: "ops",
  created_at: "2025-01-01T00:00:00.000Z",
};

/** Canned answers by "METHOD path" (path with its query). */
const ANSWERS: Record<string, { status: number; body: unknown }> = {
  "GET /health": {
    status: 200,
    body: { status: "ok", database: { ok: true, latency_ms: 4 }, version: "0.1.0" },
  },
  "GET /api/v1/admin/escalation": { status: 200, body: SWITCH_RUNNING },
  "GET /api/v1/admin/webhooks": { status: 200, body: SWITCH_PAUSED },
  "GET /api/v1/admin/stats?recent=5": {
    status: 200,
    body: {
      status_distribution: { pending: 7, approved: 2 },
      recent_requests: [
        { id: REQUEST_ID, status: "pending", tenant_id: "acme", skill_id: "pay", created_at: "2025-01-02" },
      ],
      table_size: "96 kB",
      indexes: ["approval_requests_pkey", "approval_requests_status_idx"],
    },
  },
  "GET /api/v1/policy/requests?status=pending&tenant_id=acme": {
    status: 200,
    body: [
      {
        request_id: REQUEST_ID,
        tenant_id: "acme",
        skill_id: "payments.refund",
        required_level: 4,
        created_at: "2025-01-02T00:00:00.000Z",
        expires_at: "2025-01-02T00:05:00.000Z",
      },
    ],
  },
  "POST /api/v1/admin/escalation/pause": { status: 200, body: SWITCH_PAUSED },
  "POST /api/v1/admin/escalation/resume": { status: 200, body: SWITCH_RUNNING },
  "POST /api/v1/admin/escalation/run": {
    status: 200,
    body: {
      job: "escalation",
      paused: false,
      expired: 2,
      escalated: 5,
      batches: 1,
      duration_ms: 12,
      cut_short: false,
    },
  },
  "POST /api/v1/admin/webhooks/pause": { status: 200, body: SWITCH_PAUSED },
  "POST /api/v1/admin/webhooks/resume": { status: 200, body: SWITCH_RUNNING },
  [`GET /api/v1/policy/requests/${REQUEST_ID}/webhooks`]: {
    status: 200,
    body: [
      {
        delivery_id: 17,
        event: "approval_request_created",
        status: "dead",
        attempts: 8,
        created_at: "2025-01-02T00:00:00.000Z",
        delivered_at: null,
        last_error: "HTTP 500",
      },
    ],
  },
  [`POST /api/v1/policy/requests/${REQUEST_ID}/webhooks/redeliver`]: {
    status: 200,
    body: { redelivered: [17] },
  },
  "POST /api/v1/admin/emergency/disable-auto-approve": {
    status: 200,
    body: { snapshot_id: 3, changed: [{ id: 11, approval_level: "manual_approve" }] },
  },
  "POST /api/v1/admin/emergency/restore-auto-approve": {
    status: 200,
    body: { snapshot_id: 3, restored: [{ id: 11, approval_level: "auto_approve" }] },
  },
  "POST /api/v1/policy/requests/reject-pending": {
    status: 200,
    body: { rejected: 2, request_ids: [REQUEST_ID, "apr_fedcba9876543210"] },
  },
  "PUT /api/v1/admin/slack/workspaces/acme": {
    status: 200,
    body: {
      ...SLACK_WORKSPACE,
      token_check: { team_id: "T024BE7LD", team_name: "Acme Corp", bot_user_id: "U0POLICYBOT" },
    },
  },
  "GET /api/v1/admin/slack/workspaces": { status: 200, body: [SLACK_WORKSPACE] },
  "GET /api/v1/admin/slack/workspaces/acme": { status: 200, body: SLACK_WORKSPACE },
  "DELETE /api/v1/admin/slack/workspaces/acme": {
    status: 200,
    body: { ...SLACK_WORKSPACE, links_removed: 2 },
  },
  "GET /api/v1/admin/slack/workspaces/acme/links?principal_id=carol": { status: 200, body: [SLACK_LINK] },
  "POST /api/v1/admin/slack/workspaces/acme/links": { status: 201, body: SLACK_LINK },
  "DELETE /api/v1/admin/slack/workspaces/acme/links/U024BE7LH": { status: 200, body: SLACK_LINK },
  "GET /api/v1/admin/contacts?principal_id=carol&channel=teams": {
    status: 200,
    body: [
      {
        contact_id: 7,
        principal_id: "carol",
        tenant_id: null,
        channel: "teams",
        address: "https://contoso.webhook.office.com/…",
        has_secret: false,
        created_by: "ops",
        created_at: "2025-01-03T00:00:00.000Z",
      },
    ],
  },
  "POST /api/v1/admin/contacts": {
    status: 201,
    body: {
      contact_id: 8,
      principal_id: null,
      tenant_id: "acme",
      channel: "webhook",
      address: "https://hooks.example.org/…",
      has_secret: true,
      created_by: "ops",
      created_at: "2025-01-03T00:00:00.000Z",
      secret: CONTACT_SECRET,
    },
  },
  "DELETE /api/v1/admin/contacts/7": {
    status: 200,
    body: {
      contact_id: 7,
      principal_id: "carol",
      tenant_id: null,
      channel: "teams",
      address: "https://contoso.webhook.office.com/…",
      has_secret: false,
      created_by: "ops",
      created_at: "2025-01-03T00:00:00.000Z",
    },
  },
};

const DELEGATION = {
  id: 3,
  principal_id: "carol",
  delegate_id: "bob",
  tenant_id: "acme",
  starts_at: "2026-12-03T00:00:00.000Z",
  ends_at: "2026-12-10T18:00:00.000Z",
  reason: 'on leave"\nforged line',
  created_by: "ops",
  created_at: "2026-12-03T00:00:00.000Z",
  revoked_at: null,
  revoked_by: null,
};
ANSWERS["GET /api/v1/delegations?principal_id=carol&delegate_id=bob&active=true"] = {
  status: 200,
  body: [DELEGATION],
};
ANSWERS["POST /api/v1/delegations"] = { status: 201, body: DELEGATION };
ANSWERS["POST /api/v1/delegations/3/revoke"] = {
  status: 200,
  body: { ...DELEGATION, revoked_at: "2026-12-04T00:00:00.000Z", revoked_by: "ops" },
};

const FORBIDDEN = {
  error: { code: "forbidden", message: "This key may not use emergency operations", request_id: "req_1" },
};

let server: Server;
let baseUrl: string;
let recorded: Recorded[] = [];
/** When set, every call answers this instead. */
let override: { status: number; body: unknown } | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const path = req.url ?? "";
      recorded.push({
        method: req.method ?? "",
        path,
        body: text === "" ? undefined : JSON.parse(text),
        authorization: req.headers.authorization,
      });
      const answer = override ??
        ANSWERS[`${req.method} ${path}`] ?? {
          status: 404,
          body: { error: { code: "not_found", message: path } },
        };
      res.writeHead(answer.status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  recorded = [];
  override = undefined;
  stdinText = "";
  stdinAsked = [];
});

/** Standard input for the next ops() calls (--url-stdin, --secret-stdin); how many lines were asked. */
let stdinText = "";
let stdinAsked: number[] = [];

async function ops(argv: string[], env: Record<string, string | undefined> = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runOps(argv, {
    fetch: globalThis.fetch,
    env: { POLICY_API_URL: `${baseUrl}/`, POLICY_API_KEY: KEY, ...env },
    write: (text, stream = "stdout") => (stream === "stdout" ? stdout : stderr).push(text),
    readLines: async (count) => {
      stdinAsked.push(count);
      return stdinText.split("\n").slice(0, count);
    },
  });
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
}

describe("npm run ops: each command's call", () => {
  const reason = { reason: "incident 42" };
  const cases: [string[], Omit<Recorded, "authorization">[]][] = [
    [
      ["status"],
      [
        { method: "GET", path: "/health", body: undefined },
        { method: "GET", path: "/api/v1/admin/escalation", body: undefined },
        { method: "GET", path: "/api/v1/admin/webhooks", body: undefined },
      ],
    ],
    [["stats", "--recent", "5"], [{ method: "GET", path: "/api/v1/admin/stats?recent=5", body: undefined }]],
    [
      ["pending", "--tenant", "acme"],
      [{ method: "GET", path: "/api/v1/policy/requests?status=pending&tenant_id=acme", body: undefined }],
    ],
    [
      ["escalation", "pause", "--reason", "incident 42"],
      [{ method: "POST", path: "/api/v1/admin/escalation/pause", body: reason }],
    ],
    [
      ["escalation", "resume", "--reason", "incident 42"],
      [{ method: "POST", path: "/api/v1/admin/escalation/resume", body: reason }],
    ],
    [["escalation", "run"], [{ method: "POST", path: "/api/v1/admin/escalation/run", body: undefined }]],
    [
      ["webhooks", "pause", "--reason", "incident 42"],
      [{ method: "POST", path: "/api/v1/admin/webhooks/pause", body: reason }],
    ],
    [
      ["webhooks", "resume", "--reason", "incident 42"],
      [{ method: "POST", path: "/api/v1/admin/webhooks/resume", body: reason }],
    ],
    [
      ["webhooks", "list", REQUEST_ID],
      [{ method: "GET", path: `/api/v1/policy/requests/${REQUEST_ID}/webhooks`, body: undefined }],
    ],
    [
      ["webhooks", "redeliver", REQUEST_ID],
      [{ method: "POST", path: `/api/v1/policy/requests/${REQUEST_ID}/webhooks/redeliver`, body: undefined }],
    ],
    [
      ["auto-approve", "disable", "--reason", "incident 42"],
      [{ method: "POST", path: "/api/v1/admin/emergency/disable-auto-approve", body: reason }],
    ],
    [
      ["auto-approve", "restore", "--reason", "incident 42"],
      [{ method: "POST", path: "/api/v1/admin/emergency/restore-auto-approve", body: reason }],
    ],
    [
      ["reject-pending", "--reason", "incident 42"],
      [{ method: "POST", path: "/api/v1/policy/requests/reject-pending", body: reason }],
    ],
    [
      ["reject-pending", "--reason", "incident 42", "--tenant", "acme"],
      [
        {
          method: "POST",
          path: "/api/v1/policy/requests/reject-pending",
          body: { ...reason, tenant_id: "acme" },
        },
      ],
    ],
    [
      ["contacts", "list", "--principal", "carol", "--channel", "teams"],
      [{ method: "GET", path: "/api/v1/admin/contacts?principal_id=carol&channel=teams", body: undefined }],
    ],
    [
      ["contacts", "add", "--tenant", "acme", "--channel", "webhook", "--url", "https://hooks.example.org/x"],
      [
        {
          method: "POST",
          path: "/api/v1/admin/contacts",
          body: { channel: "webhook", tenant_id: "acme", url: "https://hooks.example.org/x" },
        },
      ],
    ],
    [
      ["contacts", "add", "--principal", "carol", "--channel", "email", "--email", "carol@example.com"],
      [
        {
          method: "POST",
          path: "/api/v1/admin/contacts",
          body: { channel: "email", principal_id: "carol", email: "carol@example.com" },
        },
      ],
    ],
    [["contacts", "remove", "7"], [{ method: "DELETE", path: "/api/v1/admin/contacts/7", body: undefined }]],
    [
      ["delegations", "list", "--principal", "carol", "--delegate", "bob", "--active"],
      [
        {
          method: "GET",
          path: "/api/v1/delegations?principal_id=carol&delegate_id=bob&active=true",
          body: undefined,
        },
      ],
    ],
    [
      ["delegations", "add", "--principal", "carol", "--delegate", "bob", "--until", "2026-12-10T18:00:00Z"],
      [
        {
          method: "POST",
          path: "/api/v1/delegations",
          body: { principal_id: "carol", delegate_id: "bob", ends_at: "2026-12-10T18:00:00Z" },
        },
      ],
    ],
    [
      [
        "delegations",
        "add",
        "--principal",
        "carol",
        "--delegate",
        "bob",
        "--from",
        "2026-12-04T08:00:00Z",
        "--until",
        "2026-12-10T18:00:00Z",
        "--tenant",
        "acme",
        "--reason",
        "on leave",
      ],
      [
        {
          method: "POST",
          path: "/api/v1/delegations",
          body: {
            principal_id: "carol",
            delegate_id: "bob",
            starts_at: "2026-12-04T08:00:00Z",
            ends_at: "2026-12-10T18:00:00Z",
            tenant_id: "acme",
            reason: "on leave",
          },
        },
      ],
    ],
    [
      ["delegations", "revoke", "3"],
      [{ method: "POST", path: "/api/v1/delegations/3/revoke", body: undefined }],
    ],
    [["slack", "list"], [{ method: "GET", path: "/api/v1/admin/slack/workspaces", body: undefined }]],
    [
      ["slack", "show", "acme"],
      [{ method: "GET", path: "/api/v1/admin/slack/workspaces/acme", body: undefined }],
    ],
    [
      ["slack", "disconnect", "acme"],
      [{ method: "DELETE", path: "/api/v1/admin/slack/workspaces/acme", body: undefined }],
    ],
    [
      ["slack", "links", "acme", "--principal", "carol"],
      [
        {
          method: "GET",
          path: "/api/v1/admin/slack/workspaces/acme/links?principal_id=carol",
          body: undefined,
        },
      ],
    ],
    [
      ["slack", "link", "acme", "U024BE7LH", "--principal", "carol"],
      [
        {
          method: "POST",
          path: "/api/v1/admin/slack/workspaces/acme/links",
          body: { slack_user_id: "U024BE7LH", principal_id: "carol" },
        },
      ],
    ],
    [
      ["slack", "unlink", "acme", "U024BE7LH"],
      [{ method: "DELETE", path: "/api/v1/admin/slack/workspaces/acme/links/U024BE7LH", body: undefined }],
    ],
  ];

  it.each(cases)("%j", async (argv, expected) => {
    const { code, stderr } = await ops(argv);
    expect(code, stderr).toBe(0);
    expect(recorded).toEqual(expected.map((call) => ({ ...call, authorization: `Bearer ${KEY}` })));
  });
});

describe("npm run ops: output", () => {
  it("status summarizes health and both switches", async () => {
    const { stdout } = await ops(["status"]);
    expect(stdout).toMatch(/health\s+ok/);
    expect(stdout).toMatch(/database\s+ok \(4 ms\)/);
    expect(stdout).toMatch(/escalation\s+running: resolved/);
    expect(stdout).toMatch(/webhooks\s+PAUSED: incident 42 \(ops at 2025-01-01T00:00:00.000Z\)/);
  });

  it("pending prints the count and an aligned table of the key fields", async () => {
    const { stdout } = await ops(["pending", "--tenant", "acme"]);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe("1 pending in tenant acme");
    expect(lines[1]).toMatch(/^id\s+tenant\s+skill\s+required_level\s+created_at\s+expires_at$/);
    expect(lines[2]).toMatch(
      new RegExp(
        `^${REQUEST_ID}\\s+acme\\s+payments\\.refund\\s+4\\s+2025-01-02T00:00:00\\.000Z\\s+2025-01-02T00:05:00\\.000Z$`,
      ),
    );
    // Aligned: each column starts at the same offset in the header and the row.
    expect(lines[2]?.indexOf("acme")).toBe(lines[1]?.indexOf("tenant"));
  });

  it("stats, webhooks list, escalation run, auto-approve and reject-pending print their key fields", async () => {
    const stats = (await ops(["stats", "--recent", "5"])).stdout;
    expect(stats).toMatch(/pending\s+7/);
    expect(stats).toMatch(/table size\s+96 kB/);
    expect(stats).toContain("approval_requests_status_idx");
    expect(stats).toMatch(new RegExp(`${REQUEST_ID}\\s+pending\\s+acme\\s+pay`));
    expect((await ops(["webhooks", "list", REQUEST_ID])).stdout).toMatch(
      /17\s+approval_request_created\s+dead\s+8\s+\S+\s+-\s+HTTP 500/,
    );
    expect((await ops(["webhooks", "redeliver", REQUEST_ID])).stdout).toContain("deliveries 17");
    const run = (await ops(["escalation", "run"])).stdout;
    expect(run).toMatch(/expired\s+2/);
    expect(run).toMatch(/escalated\s+5/);
    expect((await ops(["auto-approve", "disable", "--reason", "x"])).stdout).toMatch(/11\s+manual_approve/);
    expect((await ops(["reject-pending", "--reason", "x"])).stdout).toContain(`Rejected 2\n${REQUEST_ID}`);
  });

  it("contacts list, add and remove print the directory's fields; add shows the generated secret once", async () => {
    const list = (await ops(["contacts", "list", "--principal", "carol", "--channel", "teams"])).stdout;
    expect(list).toContain("1 contact point");
    expect(list).toMatch(/7\s+carol\s+-\s+teams\s+https:\/\/contoso\.webhook\.office\.com\/…\s+false/);
    const added = (
      await ops([
        "contacts",
        "add",
        "--tenant",
        "acme",
        "--channel",
        "webhook",
        "--url",
        "https://hooks.example.org/x",
      ])
    ).stdout;
    expect(added).toMatch(/contact_id\s+8/);
    expect(added).toMatch(/address\s+https:\/\/hooks\.example\.org\/…/);
    expect(added).toContain(`signing secret (shown once, store it now): ${CONTACT_SECRET}`);
    expect((await ops(["contacts", "remove", "7"])).stdout).toBe(
      "Removed contact point 7: teams https://contoso.webhook.office.com/…",
    );
  });

  it("contacts add --url-stdin --secret-stdin reads the URL, then the secret, from standard input", async () => {
    stdinText = "https://hooks.example.org/from-stdin\r\nwhsec_typed_secret\n";
    const argv = [
      "contacts",
      "add",
      "--tenant",
      "acme",
      "--channel",
      "webhook",
      "--url-stdin",
      "--secret-stdin",
    ];
    const { code, stdout, stderr } = await ops(argv);
    expect(code, stderr).toBe(0);
    expect(stdinAsked).toEqual([2]);
    expect(recorded[0]?.body).toEqual({
      channel: "webhook",
      tenant_id: "acme",
      url: "https://hooks.example.org/from-stdin",
      secret: "whsec_typed_secret",
    });
    // Never echoed back: the output carries the API's display address only.
    expect(`${stdout}${stderr}`).not.toContain("from-stdin");
    expect(`${stdout}${stderr}`).not.toContain("whsec_typed_secret");
  });

  it("slack connect --secrets-stdin reads the bot token, then the signing secret, and prints neither", async () => {
    stdinText = "xoxb-1111-2222-typedbottoken\r\n0123456789abcdef0123456789abcdef\n";
    const argv = [
      "slack",
      "connect",
      "acme",
      "--team",
      "T024BE7LD",
      "--channel",
      "C024BE91L",
      "--secrets-stdin",
    ];
    const { code, stdout, stderr } = await ops([...argv, "--max-decide-level", "3"]);
    expect(code, stderr).toBe(0);
    expect(stdinAsked).toEqual([2]);
    expect(recorded[0]).toMatchObject({
      method: "PUT",
      path: "/api/v1/admin/slack/workspaces/acme",
      body: {
        team_id: "T024BE7LD",
        default_channel: "C024BE91L",
        bot_token: "xoxb-1111-2222-typedbottoken",
        signing_secret: "0123456789abcdef0123456789abcdef",
        max_decide_level: 3,
      },
    });
    expect(stdout).toMatch(/has_bot_token\s+true/);
    // What Slack's auth.test said of the new token (token_check) is printed with the workspace.
    expect(stdout).toMatch(/slack_team_name\s+Acme Corp/);
    expect(stdout).toMatch(/slack_bot_user_id\s+U0POLICYBOT/);
    expect(`${stdout}${stderr}`).not.toMatch(/typedbottoken|0123456789abcdef0123/);
    // A replace: blank lines keep the stored secrets (nothing sent); connect without stdin is a usage error.
    stdinText = "\n\n";
    recorded = [];
    expect((await ops(argv)).code).toBe(0);
    expect(recorded[0]?.body).toEqual({ team_id: "T024BE7LD", default_channel: "C024BE91L" });
    expect((await ops(argv.filter((a) => a !== "--secrets-stdin"))).code).toBe(2);
    expect((await ops(["slack", "list", "--secrets-stdin"])).code).toBe(2);
    expect((await ops([...argv, "--max-decide-level", "9"])).code).toBe(2);
  });

  it("slack list, show, links and disconnect print the fields, never a secret", async () => {
    const list = (await ops(["slack", "list"])).stdout;
    expect(list.split("\n")[0]).toBe("1 Slack workspace");
    expect(list).toMatch(/acme\s+T024BE7LD\s+C024BE91L\s+4\s+true\s+true/);
    expect((await ops(["slack", "links", "acme", "--principal", "carol"])).stdout).toMatch(
      /U024BE7LH\s+carol\s+admin/,
    );
    expect((await ops(["slack", "disconnect", "acme"])).stdout).toBe(
      "Disconnected T024BE7LD from acme; links removed: 2",
    );
  });

  it("contacts add --secret-stdin alone reads one line for the secret, the URL from --url", async () => {
    stdinText = "whsec_only\n";
    const argv = [
      "contacts",
      "add",
      "--tenant",
      "acme",
      "--channel",
      "webhook",
      "--url",
      "https://h.example.org/x",
    ];
    const { code, stderr } = await ops([...argv, "--secret-stdin"]);
    expect(code, stderr).toBe(0);
    expect(stdinAsked).toEqual([1]);
    expect(recorded[0]?.body).toMatchObject({ url: "https://h.example.org/x", secret: "whsec_only" });
  });

  it("delegations list, add and revoke print their fields; a reason is quoted data", async () => {
    const list = (await ops(["delegations", "list", "--principal", "carol", "--delegate", "bob", "--active"]))
      .stdout;
    const lines = list.split("\n");
    expect(lines[0]).toBe("1 delegation in force");
    expect(lines[1]).toMatch(/^id\s+principal\s+delegate\s+tenant\s+from\s+until\s+revoked_at\s+reason$/);
    expect(lines[2]).toMatch(
      /^3\s+carol\s+bob\s+acme\s+2026-12-03T00:00:00\.000Z\s+2026-12-10T18:00:00\.000Z\s+-\s+/,
    );
    // The reason's newline and quote stay inside one quoted cell: no forged line.
    expect(lines).toHaveLength(3);
    expect(lines[2]).toContain('"on leave\\"\\nforged line"');
    const added = (
      await ops([
        "delegations",
        "add",
        "--principal",
        "carol",
        "--delegate",
        "bob",
        "--until",
        "2026-12-10T18:00:00Z",
      ])
    ).stdout;
    expect(added).toMatch(/id\s+3/);
    expect(added).toMatch(/delegate_id\s+bob/);
    expect(added).toMatch(/created_by\s+ops/);
    expect(added.split("\n").some((line) => line.startsWith("forged"))).toBe(false);
    expect((await ops(["delegations", "revoke", "3"])).stdout).toBe(
      "Revoked delegation 3: bob no longer stands in for carol (revoked_at 2026-12-04T00:00:00.000Z)",
    );
    const json = await ops(["delegations", "revoke", "3", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual(ANSWERS["POST /api/v1/delegations/3/revoke"]?.body);
  });

  it("--json prints the API's JSON answer", async () => {
    const pending = await ops(["pending", "--tenant", "acme", "--json"]);
    expect(JSON.parse(pending.stdout)).toEqual(
      ANSWERS["GET /api/v1/policy/requests?status=pending&tenant_id=acme"]?.body,
    );
    const status = await ops(["status", "--json"]);
    expect(JSON.parse(status.stdout)).toEqual({
      health: ANSWERS["GET /health"]?.body,
      escalation: SWITCH_RUNNING,
      webhooks: SWITCH_PAUSED,
    });
  });
});

describe("npm run ops: failures", () => {
  it("prints the error envelope's code and message and exits 1", async () => {
    override = { status: 403, body: FORBIDDEN };
    const { code, stdout, stderr } = await ops(["escalation", "pause", "--reason", "x"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("403 forbidden: This key may not use emergency operations (request_id req_1)");
  });

  it("a refused delegation prints the envelope, and with --json the envelope itself, exit 1", async () => {
    const conflict = {
      error: { code: "conflict", message: "It would make a cycle", request_id: "req_2" },
    };
    override = { status: 409, body: conflict };
    const argv = [
      "delegations",
      "add",
      "--principal",
      "carol",
      "--delegate",
      "bob",
      "--until",
      "2026-12-10T18:00:00Z",
    ];
    const plain = await ops(argv);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(
      "ops delegations failed: POST /api/v1/delegations: 409 conflict: It would make a cycle",
    );
    const json = await ops([...argv, "--json"]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual(conflict);
  });

  it("refuses without POLICY_API_KEY: exit 2 with the usage, no call", async () => {
    const { code, stderr } = await ops(["status"], { POLICY_API_KEY: undefined });
    expect(code).toBe(2);
    expect(stderr).toContain("POLICY_API_KEY is not set");
    expect(stderr).toContain("usage: npm run ops");
    expect(recorded).toEqual([]);
  });

  it.each([
    [["frobnicate"], "unknown command: frobnicate"],
    [[], "no command"],
    [["escalation", "pause"], "--reason is required"],
    [["webhooks", "list"], "needs a request id"],
    [["stats", "--recent", "lots"], "--recent must be a positive integer"],
    [["status", "--bogus"], "--bogus"],
    [["contacts"], "contacts action needed"],
    [["contacts", "remove"], "needs a contact id"],
    [["contacts", "remove", "7; rm"], "positive integer"],
    [["contacts", "add", "--principal", "carol", "--email", "c@example.com"], "needs --channel"],
    [["contacts", "add", "--channel", "email", "--email", "c@example.com"], "--principal, --tenant or both"],
    [["contacts", "add", "--principal", "c", "--channel", "email"], "--email or --url"],
    [
      ["contacts", "add", "--tenant", "a", "--channel", "teams", "--url", "https://x", "--url-stdin"],
      "not both",
    ],
    [
      ["contacts", "add", "--tenant", "a", "--channel", "webhook", "--secret", "s", "--secret-stdin"],
      "not both",
    ],
    [["contacts", "list", "--secret-stdin"], "for contacts add"],
    [["contacts", "add", "--tenant", "a", "--channel", "teams", "--url-stdin"], "no URL line"],
    [["delegations"], "delegations action needed"],
    [["delegations", "remove", "3"], "unknown delegations action: remove"],
    [["delegations", "revoke"], "needs a delegation id"],
    [["delegations", "revoke", "3; rm"], "positive integer"],
    [["delegations", "revoke", "0"], "positive integer"],
    [["delegations", "list", "--tenant", "acme"], "--principal, --delegate and --active only"],
    [["delegations", "add", "--delegate", "bob", "--until", "2026-12-10T18:00:00Z"], "needs --principal"],
    [["delegations", "add", "--principal", "carol", "--until", "2026-12-10T18:00:00Z"], "needs --delegate"],
    [["delegations", "add", "--principal", "carol", "--delegate", "bob"], "needs --until"],
    [["delegations", "list", "--active=yes"], "--active"],
  ])("%j is a usage error: exit 2 with the usage, no call", async (argv, message) => {
    const { code, stderr } = await ops(argv);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain("usage: npm run ops");
    expect(recorded).toEqual([]);
  });
});
