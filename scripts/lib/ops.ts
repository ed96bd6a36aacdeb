// The operator CLI's core (npm run ops; scripts/ops.ts wires it to the process): each command is one or
// a few calls to the HTTP API with an admin key, printed as aligned tables, or as the raw JSON answer
// with --json. Pure apart from the fetch, env and write it is given, so test/node/ops.test.ts runs it
// against a stand-in server. It never touches the database: that is scripts/keys.ts and escalate.ts.
import { parseArgs } from "node:util";
import { usageMistake } from "./cli.ts";

export const DEFAULT_API_URL = "http://127.0.0.1:8000";

export const USAGE = `usage: npm run ops -- <command> [--json]
  status                                          health, escalation and webhook switches
  stats [--recent N]                              status distribution, recent requests, size, indexes
  pending [--tenant T]                            open pending requests
  escalation pause|resume --reason R              the escalation job's switch (audited)
  escalation run                                  run the escalation job now
  webhooks pause|resume --reason R                the webhook delivery switch (audited)
  webhooks list <request_id>                      a request's deliveries
  webhooks redeliver <request_id>                 send its failed and dead deliveries again
  auto-approve disable|restore --reason R         raise every level to manual_approve, or restore
  reject-pending --reason R [--tenant T]          reject every open request (of a tenant)
  contacts list [--principal P] [--tenant T] [--channel C]
                                                  the principal directory's contact points
  contacts add --channel C (--email E | --url-stdin) [--principal P] [--tenant T] [--secret-stdin]
                                                  add one (email, teams, google_chat, webhook)
                                                  --url-stdin, --secret-stdin: read the URL, then the
                                                  secret, one line each from standard input; prefer
                                                  them to --url U / --secret S, which stay in shell
                                                  history and show in ps
  contacts remove <contact_id>                    remove one (audited)
  delegations list [--principal P] [--delegate D] [--active]
                                                  delegations, newest first (--active: in force now)
  delegations add --principal P --delegate D --until <ISO time> [--from <ISO time>] [--tenant T]
                  [--reason R]                    D stands in for P until then (audited)
  delegations revoke <id>                         end one at once (audited)
  slack list                                      connected Slack workspaces (never their secrets)
  slack show|disconnect <tenant>                  one workspace; disconnect removes its links too
  slack connect <tenant> --team T --channel C --secrets-stdin [--max-decide-level N]
                                                  connect or replace (routes: use the API); reads the
                                                  bot token, then the signing secret, one line each
                                                  from standard input (replace: both lines may be
                                                  blank to keep the stored ones)
  slack links <tenant> [--principal P]            the workspace's links between Slack users and principals
  slack link <tenant> <slack_user_id> --principal P
                                                  link a Slack user (audited; 409 if linked elsewhere)
  slack unlink <tenant> <slack_user_id>           remove a link (audited)

  POLICY_API_URL   the API (default ${DEFAULT_API_URL})
  POLICY_API_KEY   an admin API key (required)
  --json           print the API's JSON answer instead of tables`;

export type Stream = "stdout" | "stderr";

export interface OpsIo {
  fetch: typeof globalThis.fetch;
  env: Readonly<Record<string, string | undefined>>;
  /** Text to print, without its trailing newline. */
  write: (text: string, stream?: Stream) => void;
  /** The first `count` lines of standard input (--url-stdin, --secret-stdin), without their newlines. */
  readLines?: (count: number) => Promise<string[]>;
}

type Json = unknown;
type JsonObject = Record<string, unknown>;

export interface Call {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  body?: JsonObject;
  /** Statuses other than 2xx that still carry an answer (GET /health answers 503 when degraded). */
  accept?: readonly number[];
}

export interface Answer {
  status: number;
  body: Json;
  headers: Headers;
}

/** A usage mistake: printed with the usage text, exit 2. */
export class UsageError extends Error {}

/** The API refused or could not be reached: printed, exit 1. */
export class ApiFailure extends Error {
  readonly body: Json;
  constructor(message: string, body?: Json) {
    super(message);
    this.body = body;
  }
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const field = (value: unknown, key: string): unknown => (isObject(value) ? value[key] : undefined);

const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** One table cell: null and absent read "-", objects as compact JSON. */
function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Simple aligned columns: a header row, then one row per item (the last column is not padded). */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [headers, ...rows.map((row) => row.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  return cells
    .map((row) =>
      row
        .map((text, i) => (i === row.length - 1 ? text : text.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Key/value lines, the keys aligned. */
const pairs = (entries: readonly (readonly [string, unknown])[]): string =>
  table(
    ["", ""],
    entries.map(([key, value]) => [key, value]),
  )
    .split("\n")
    .slice(1)
    .join("\n");

function switchSummary(state: unknown): string {
  const paused = field(state, "paused") === true;
  const reason = field(state, "reason");
  const by = field(state, "changed_by");
  const at = field(state, "changed_at");
  const what = paused ? "PAUSED" : "running";
  const why = reason ? `: ${cell(reason)}` : "";
  const who = by || at ? ` (${cell(by)} at ${cell(at)})` : "";
  return `${what}${why}${who}`;
}

function lastRunSummary(state: unknown): string {
  const run = field(state, "last_run");
  if (!isObject(run)) return "never";
  const counts = Object.entries(run)
    .filter(([, value]) => typeof value === "number" || typeof value === "boolean")
    .map(([key, value]) => `${key}=${cell(value)}`)
    .join(" ");
  return `${cell(field(state, "last_run_at"))} ${counts}`.trim();
}

const switchView = (name: string, state: unknown): string =>
  pairs([
    [name, switchSummary(state)],
    ["last run", lastRunSummary(state)],
  ]);

interface Parsed {
  command: string | undefined;
  args: string[];
  json: boolean;
  reason?: string | undefined;
  tenant?: string | undefined;
  recent?: string | undefined;
  principal?: string | undefined;
  channel?: string | undefined;
  email?: string | undefined;
  url?: string | undefined;
  secret?: string | undefined;
  "url-stdin": boolean;
  "secret-stdin": boolean;
  delegate?: string | undefined;
  from?: string | undefined;
  until?: string | undefined;
  active: boolean;
  team?: string | undefined;
  "max-decide-level"?: string | undefined;
  "secrets-stdin": boolean;
  /** Read from standard input by --secrets-stdin (slack connect): never from the command line. */
  slackSecrets?: { botToken: string | undefined; signingSecret: string | undefined } | undefined;
  help: boolean;
}

function parse(argv: readonly string[]): Parsed {
  try {
    const { positionals, values } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: "boolean", default: false },
        reason: { type: "string" },
        tenant: { type: "string" },
        recent: { type: "string" },
        principal: { type: "string" },
        channel: { type: "string" },
        email: { type: "string" },
        url: { type: "string" },
        secret: { type: "string" },
        "url-stdin": { type: "boolean", default: false },
        "secret-stdin": { type: "boolean", default: false },
        delegate: { type: "string" },
        from: { type: "string" },
        until: { type: "string" },
        active: { type: "boolean", default: false },
        team: { type: "string" },
        "max-decide-level": { type: "string" },
        "secrets-stdin": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    const [command, ...args] = positionals;
    return { command, args, ...values };
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

const needReason = (parsed: Parsed): string =>
  parsed.reason?.trim() ? parsed.reason : fail("--reason is required (it is recorded in the audit trail)");

const needId = (parsed: Parsed, what: string): string =>
  parsed.args[1] ?? fail(`${what} needs a request id (apr_…)`);

function fail(message: string): never {
  throw new UsageError(message);
}

function only<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T {
  const found = allowed.find((option) => option === value);
  return found ?? fail(value ? `unknown ${what}: ${value}` : `${what} needed: ${allowed.join("|")}`);
}

/** A command: the calls it makes, and how its answers print. */
interface Plan {
  calls: Call[];
  render: (answers: Json[]) => string;
}

function plan(parsed: Parsed): Plan {
  const { command } = parsed;
  switch (command) {
    case "status":
      return {
        calls: [
          { method: "GET", path: "/health", accept: [503] },
          { method: "GET", path: "/api/v1/admin/escalation" },
          { method: "GET", path: "/api/v1/admin/webhooks" },
        ],
        render: ([health, escalation, webhooks]) => {
          const database = field(health, "database");
          const latency = field(database, "latency_ms");
          const error = field(database, "error");
          return pairs([
            ["health", cell(field(health, "status"))],
            [
              "database",
              `${field(database, "ok") === true ? "ok" : "DOWN"}${latency === undefined ? "" : ` (${cell(latency)} ms)`}${error ? `: ${cell(error)}` : ""}`,
            ],
            ["version", field(health, "version")],
            ["escalation", switchSummary(escalation)],
            ["  last run", lastRunSummary(escalation)],
            ["webhooks", switchSummary(webhooks)],
            ["  last run", lastRunSummary(webhooks)],
          ]);
        },
      };
    case "stats": {
      const recent = parsed.recent;
      if (recent !== undefined && !/^[1-9]\d*$/.test(recent)) fail("--recent must be a positive integer");
      return {
        calls: [{ method: "GET", path: `/api/v1/admin/stats${recent ? `?recent=${recent}` : ""}` }],
        render: ([stats]) => {
          const distribution = field(stats, "status_distribution");
          const recentRows = asArray(field(stats, "recent_requests"));
          return [
            table(["status", "count"], isObject(distribution) ? Object.entries(distribution) : []),
            "",
            pairs([
              ["table size", field(stats, "table_size")],
              ["indexes", asArray(field(stats, "indexes")).map(cell).join(", ")],
            ]),
            "",
            `recent requests (${recentRows.length}):`,
            table(
              ["id", "status", "tenant", "skill", "created_at"],
              recentRows.map((row) =>
                ["id", "status", "tenant_id", "skill_id", "created_at"].map((k) => field(row, k)),
              ),
            ),
          ].join("\n");
        },
      };
    }
    case "pending": {
      const query = new URLSearchParams({ status: "pending" });
      if (parsed.tenant) query.set("tenant_id", parsed.tenant);
      return {
        calls: [{ method: "GET", path: `/api/v1/policy/requests?${query}` }],
        render: ([list]) => {
          const rows = asArray(list);
          const keys = ["request_id", "tenant_id", "skill_id", "required_level", "created_at", "expires_at"];
          return [
            `${rows.length} pending${parsed.tenant ? ` in tenant ${parsed.tenant}` : ""}`,
            ...(rows.length === 0
              ? []
              : [
                  table(
                    ["id", "tenant", "skill", "required_level", "created_at", "expires_at"],
                    rows.map((row) => keys.map((k) => field(row, k))),
                  ),
                ]),
          ].join("\n");
        },
      };
    }
    case "escalation": {
      const action = only(parsed.args[0], ["pause", "resume", "run"] as const, "escalation action");
      if (action === "run") {
        return {
          calls: [{ method: "POST", path: "/api/v1/admin/escalation/run" }],
          render: ([run]) =>
            field(run, "paused") === true
              ? "The escalation job is paused: the run did nothing (npm run ops -- status says why)."
              : pairs(
                  ["expired", "escalated", "batches", "duration_ms", "cut_short"].map((k) => [
                    k,
                    field(run, k),
                  ]),
                ),
        };
      }
      return {
        calls: [
          {
            method: "POST",
            path: `/api/v1/admin/escalation/${action}`,
            body: { reason: needReason(parsed) },
          },
        ],
        render: ([state]) => switchView("escalation", state),
      };
    }
    case "webhooks": {
      const action = only(
        parsed.args[0],
        ["pause", "resume", "list", "redeliver"] as const,
        "webhooks action",
      );
      if (action === "list") {
        const id = needId(parsed, "webhooks list");
        return {
          calls: [{ method: "GET", path: `/api/v1/policy/requests/${encodeURIComponent(id)}/webhooks` }],
          render: ([deliveries]) => {
            const rows = asArray(deliveries);
            const keys = [
              "delivery_id",
              "event",
              "status",
              "attempts",
              "created_at",
              "delivered_at",
              "last_error",
            ];
            return [
              `${rows.length} deliveries for ${id}`,
              ...(rows.length === 0
                ? []
                : [
                    table(
                      keys,
                      rows.map((row) => keys.map((k) => field(row, k))),
                    ),
                  ]),
            ].join("\n");
          },
        };
      }
      if (action === "redeliver") {
        const id = needId(parsed, "webhooks redeliver");
        return {
          calls: [
            { method: "POST", path: `/api/v1/policy/requests/${encodeURIComponent(id)}/webhooks/redeliver` },
          ],
          render: ([result]) => {
            const ids = asArray(field(result, "redelivered"));
            return ids.length === 0
              ? `Nothing to redeliver for ${id} (no failed or dead deliveries).`
              : `Redelivered ${ids.length} for ${id}: deliveries ${ids.map(cell).join(", ")}`;
          },
        };
      }
      return {
        calls: [
          { method: "POST", path: `/api/v1/admin/webhooks/${action}`, body: { reason: needReason(parsed) } },
        ],
        render: ([state]) => switchView("webhooks", state),
      };
    }
    case "auto-approve": {
      const action = only(parsed.args[0], ["disable", "restore"] as const, "auto-approve action");
      const list = action === "disable" ? "changed" : "restored";
      return {
        calls: [
          {
            method: "POST",
            path: `/api/v1/admin/emergency/${action}-auto-approve`,
            body: { reason: needReason(parsed) },
          },
        ],
        render: ([result]) => {
          const rows = asArray(field(result, list));
          return [
            `snapshot ${cell(field(result, "snapshot_id"))}: ${rows.length} approval level${rows.length === 1 ? "" : "s"} ${list}`,
            ...(rows.length === 0
              ? []
              : [
                  table(
                    ["id", "approval_level"],
                    rows.map((row) => [field(row, "id"), field(row, "approval_level")]),
                  ),
                ]),
          ].join("\n");
        },
      };
    }
    case "reject-pending": {
      const body: JsonObject = { reason: needReason(parsed) };
      if (parsed.tenant) body.tenant_id = parsed.tenant;
      return {
        calls: [{ method: "POST", path: "/api/v1/policy/requests/reject-pending", body }],
        render: ([result]) => {
          const ids = asArray(field(result, "request_ids"));
          return [`Rejected ${cell(field(result, "rejected"))}`, ...ids.map(cell)].join("\n");
        },
      };
    }
    case "contacts":
      return contactsPlan(parsed);
    case "delegations":
      return delegationsPlan(parsed);
    case "slack":
      return slackPlan(parsed);
    default:
      return fail(command ? `unknown command: ${command}` : "no command");
  }
}

const CONTACT_COLUMNS = [
  "contact_id",
  "principal_id",
  "tenant_id",
  "channel",
  "address",
  "has_secret",
  "created_at",
];

/**
 * contacts list|add|remove: the principal directory. The API checks every field (this only shapes the
 * call); a URL is never printed back (the API answers its display address), a generated webhook secret
 * once, by add.
 */
function contactsPlan(parsed: Parsed): Plan {
  const action = only(parsed.args[0], ["list", "add", "remove"] as const, "contacts action");
  if (action === "list") {
    const query = new URLSearchParams();
    if (parsed.principal) query.set("principal_id", parsed.principal);
    if (parsed.tenant) query.set("tenant_id", parsed.tenant);
    if (parsed.channel) query.set("channel", parsed.channel);
    const search = query.size > 0 ? `?${query}` : "";
    return {
      calls: [{ method: "GET", path: `/api/v1/admin/contacts${search}` }],
      render: ([list]) => {
        const rows = asArray(list);
        return [
          `${rows.length} contact point${rows.length === 1 ? "" : "s"}`,
          ...(rows.length === 0
            ? []
            : [
                table(
                  ["id", "principal", "tenant", "channel", "address", "signed", "created_at"],
                  rows.map((row) => CONTACT_COLUMNS.map((k) => field(row, k))),
                ),
              ]),
        ].join("\n");
      },
    };
  }
  if (action === "remove") {
    const id = parsed.args[1] ?? fail("contacts remove needs a contact id (contacts list shows them)");
    if (!/^[1-9]\d*$/.test(id)) fail("a contact id is a positive integer");
    return {
      calls: [{ method: "DELETE", path: `/api/v1/admin/contacts/${id}` }],
      render: ([removed]) =>
        `Removed contact point ${cell(field(removed, "contact_id"))}: ${cell(field(removed, "channel"))} ${cell(field(removed, "address"))}`,
    };
  }
  const channel =
    parsed.channel ?? fail("contacts add needs --channel (email, teams, google_chat or webhook)");
  if (!parsed.principal && !parsed.tenant) fail("contacts add needs --principal, --tenant or both");
  if (Boolean(parsed.email) === Boolean(parsed.url))
    fail("contacts add needs --email or --url-stdin (one of them)");
  const body: JsonObject = { channel };
  // --url-stdin and --secret-stdin: runOps has already read the values into url and secret.
  if (parsed.principal) body.principal_id = parsed.principal;
  if (parsed.tenant) body.tenant_id = parsed.tenant;
  if (parsed.email) body.email = parsed.email;
  if (parsed.url) body.url = parsed.url;
  if (parsed.secret) body.secret = parsed.secret;
  return {
    calls: [{ method: "POST", path: "/api/v1/admin/contacts", body }],
    render: ([created]) => {
      const secret = field(created, "secret");
      return [
        pairs(CONTACT_COLUMNS.map((k) => [k, field(created, k)])),
        ...(typeof secret === "string" ? ["", `signing secret (shown once, store it now): ${secret}`] : []),
      ].join("\n");
    },
  };
}

/**
 * --url-stdin and --secret-stdin (contacts add only): the URL, then the secret, one line each from
 * standard input, so neither lands in shell history or `ps`. Read before the plan, into url and secret.
 */
async function readStdinValues(parsed: Parsed, io: OpsIo): Promise<Parsed> {
  if (parsed["secrets-stdin"]) return readSlackSecrets(parsed, io);
  const wantUrl = parsed["url-stdin"];
  const wantSecret = parsed["secret-stdin"];
  if (!wantUrl && !wantSecret) return parsed;
  if (parsed.command !== "contacts" || parsed.args[0] !== "add")
    fail("--url-stdin and --secret-stdin are for contacts add");
  if (wantUrl && parsed.url !== undefined) fail("give --url or --url-stdin, not both");
  if (wantSecret && parsed.secret !== undefined) fail("give --secret or --secret-stdin, not both");
  if (!io.readLines) fail("standard input cannot be read here");
  const count = (wantUrl ? 1 : 0) + (wantSecret ? 1 : 0);
  const lines = (await io.readLines(count)).map((line) => line.replace(/\r$/, ""));
  const take = (what: string): string => {
    const line = lines.shift();
    return line?.trim() ? line : fail(`standard input had no ${what} line`);
  };
  const url = wantUrl ? take("URL") : parsed.url;
  const secret = wantSecret ? take("secret") : parsed.secret;
  return { ...parsed, url, secret };
}

/**
 * --secrets-stdin (slack connect only): the bot token, then the signing secret, one line each from
 * standard input; a blank line keeps the stored value (a replace).
 */
async function readSlackSecrets(parsed: Parsed, io: OpsIo): Promise<Parsed> {
  if (parsed.command !== "slack" || parsed.args[0] !== "connect")
    fail("--secrets-stdin is for slack connect");
  if (!io.readLines) fail("standard input cannot be read here");
  const [botToken, signingSecret] = (await io.readLines(2)).map((line) => line.replace(/\r$/, "").trim());
  return {
    ...parsed,
    slackSecrets: { botToken: botToken || undefined, signingSecret: signingSecret || undefined },
  };
}

const SLACK_WORKSPACE_COLUMNS = [
  "tenant_id",
  "team_id",
  "default_channel",
  "max_decide_level",
  "has_bot_token",
  "has_signing_secret",
  "updated_at",
];
const SLACK_LINK_COLUMNS = ["slack_user_id", "principal_id", "method", "linked_by", "created_at"];

/**
 * slack list|show|connect|disconnect|links|link|unlink: the Slack administration (docs/SLACK.md). The
 * API checks every field; the bot token and signing secret go in by standard input only and never come
 * back (the API answers has_bot_token, has_signing_secret).
 */
function slackPlan(parsed: Parsed): Plan {
  const action = only(
    parsed.args[0],
    ["list", "show", "connect", "disconnect", "links", "link", "unlink"] as const,
    "slack action",
  );
  const base = "/api/v1/admin/slack/workspaces";
  if (action === "list") {
    return {
      calls: [{ method: "GET", path: base }],
      render: ([list]) => {
        const rows = asArray(list);
        return [
          `${rows.length} Slack workspace${rows.length === 1 ? "" : "s"}`,
          ...(rows.length === 0
            ? []
            : [
                table(
                  SLACK_WORKSPACE_COLUMNS,
                  rows.map((row) => SLACK_WORKSPACE_COLUMNS.map((k) => field(row, k))),
                ),
              ]),
        ].join("\n");
      },
    };
  }
  const tenant = parsed.args[1] ?? fail(`slack ${action} needs a tenant id`);
  const workspace = `${base}/${encodeURIComponent(tenant)}`;
  // A connect with a new token answers what Slack's auth.test said of it (token_check): shown too.
  const workspaceView = (answer: unknown) => {
    const check = field(answer, "token_check");
    const checked: [string, unknown][] =
      check === undefined
        ? []
        : [
            ["slack_team_name", field(check, "team_name")],
            ["slack_bot_user_id", field(check, "bot_user_id")],
          ];
    return pairs([
      ...[...SLACK_WORKSPACE_COLUMNS, "routes"].map((k): [string, unknown] => [k, field(answer, k)]),
      ...checked,
    ]);
  };
  switch (action) {
    case "show":
      return { calls: [{ method: "GET", path: workspace }], render: ([answer]) => workspaceView(answer) };
    case "disconnect":
      return {
        calls: [{ method: "DELETE", path: workspace }],
        render: ([gone]) =>
          `Disconnected ${cell(field(gone, "team_id"))} from ${cell(field(gone, "tenant_id"))}; links removed: ${cell(field(gone, "links_removed"))}`,
      };
    case "connect": {
      if (!parsed["secrets-stdin"])
        fail("slack connect needs --secrets-stdin (bot token, then signing secret)");
      const body: JsonObject = {
        team_id: parsed.team ?? fail("slack connect needs --team (T…)"),
        default_channel:
          parsed.channel ?? fail("slack connect needs --channel (the default channel, C… or G…)"),
      };
      if (parsed.slackSecrets?.botToken) body.bot_token = parsed.slackSecrets.botToken;
      if (parsed.slackSecrets?.signingSecret) body.signing_secret = parsed.slackSecrets.signingSecret;
      const level = parsed["max-decide-level"];
      if (level !== undefined) {
        if (!/^[1-5]$/.test(level)) fail("--max-decide-level is 1 to 5");
        body.max_decide_level = Number(level);
      }
      return {
        calls: [{ method: "PUT", path: workspace, body }],
        render: ([answer]) => workspaceView(answer),
      };
    }
    case "links": {
      const search = parsed.principal ? `?${new URLSearchParams({ principal_id: parsed.principal })}` : "";
      return {
        calls: [{ method: "GET", path: `${workspace}/links${search}` }],
        render: ([list]) => {
          const rows = asArray(list);
          return [
            `${rows.length} link${rows.length === 1 ? "" : "s"}`,
            ...(rows.length === 0
              ? []
              : [
                  table(
                    SLACK_LINK_COLUMNS,
                    rows.map((row) => SLACK_LINK_COLUMNS.map((k) => field(row, k))),
                  ),
                ]),
          ].join("\n");
        },
      };
    }
    case "link": {
      const user = parsed.args[2] ?? fail("slack link needs a Slack user id (U… or W…)");
      const principal = parsed.principal ?? fail("slack link needs --principal");
      return {
        calls: [
          {
            method: "POST",
            path: `${workspace}/links`,
            body: { slack_user_id: user, principal_id: principal },
          },
        ],
        render: ([link]) =>
          `Linked ${cell(field(link, "slack_user_id"))} to ${cell(field(link, "principal_id"))} in ${cell(field(link, "team_id"))}`,
      };
    }
    case "unlink": {
      const user = parsed.args[2] ?? fail("slack unlink needs a Slack user id (U… or W…)");
      return {
        calls: [{ method: "DELETE", path: `${workspace}/links/${encodeURIComponent(user)}` }],
        render: ([link]) =>
          `Unlinked ${cell(field(link, "slack_user_id"))} (was ${cell(field(link, "principal_id"))})`,
      };
    }
  }
}

const DELEGATION_COLUMNS = [
  "id",
  "principal_id",
  "delegate_id",
  "tenant_id",
  "starts_at",
  "ends_at",
  "revoked_at",
  "reason",
];

/** Text people wrote (a delegation's reason) is data: shown quoted, so it cannot pass for output. */
const quoted = (value: unknown): unknown => (typeof value === "string" ? JSON.stringify(value) : value);

const delegationRow = (row: unknown): unknown[] =>
  DELEGATION_COLUMNS.map((k) => (k === "reason" ? quoted(field(row, k)) : field(row, k)));

/**
 * delegations list|add|revoke: who stands in for whom (docs/API.md "Delegation"). With an admin key
 * add must name the principal (otherwise the delegation would be the admin key's own); the API checks
 * the times, the 90-day cap, cycles and ids.
 */
function delegationsPlan(parsed: Parsed): Plan {
  const action = only(parsed.args[0], ["list", "add", "revoke"] as const, "delegations action");
  if (action === "list") {
    if (parsed.tenant || parsed.from || parsed.until || parsed.reason)
      fail("delegations list filters on --principal, --delegate and --active only");
    const query = new URLSearchParams();
    if (parsed.principal) query.set("principal_id", parsed.principal);
    if (parsed.delegate) query.set("delegate_id", parsed.delegate);
    if (parsed.active) query.set("active", "true");
    const search = query.size > 0 ? `?${query}` : "";
    return {
      calls: [{ method: "GET", path: `/api/v1/delegations${search}` }],
      render: ([list]) => {
        const rows = asArray(list);
        return [
          `${rows.length} delegation${rows.length === 1 ? "" : "s"}${parsed.active ? " in force" : ""}`,
          ...(rows.length === 0
            ? []
            : [
                table(
                  ["id", "principal", "delegate", "tenant", "from", "until", "revoked_at", "reason"],
                  rows.map(delegationRow),
                ),
              ]),
        ].join("\n");
      },
    };
  }
  if (action === "revoke") {
    const id =
      parsed.args[1] ?? fail("delegations revoke needs a delegation id (delegations list shows them)");
    if (!/^[1-9]\d{0,14}$/.test(id)) fail("a delegation id is a positive integer");
    return {
      calls: [{ method: "POST", path: `/api/v1/delegations/${id}/revoke` }],
      render: ([revoked]) =>
        `Revoked delegation ${cell(field(revoked, "id"))}: ${cell(field(revoked, "delegate_id"))} no longer stands in for ${cell(field(revoked, "principal_id"))} (revoked_at ${cell(field(revoked, "revoked_at"))})`,
    };
  }
  const principal = parsed.principal ?? fail("delegations add needs --principal (whose delegation it is)");
  const delegate = parsed.delegate ?? fail("delegations add needs --delegate (who stands in)");
  const until = parsed.until ?? fail("delegations add needs --until <ISO time> (e.g. 2026-12-10T18:00:00Z)");
  const body: JsonObject = { principal_id: principal, delegate_id: delegate, ends_at: until };
  if (parsed.from) body.starts_at = parsed.from;
  if (parsed.tenant) body.tenant_id = parsed.tenant;
  if (parsed.reason) body.reason = parsed.reason;
  return {
    calls: [{ method: "POST", path: "/api/v1/delegations", body }],
    render: ([created]) =>
      pairs([
        ...DELEGATION_COLUMNS.map((k): [string, unknown] => [
          k,
          k === "reason" ? quoted(field(created, k)) : field(created, k),
        ]),
        ["created_by", field(created, "created_by")],
      ]),
  };
}

/** The error envelope as one line: `403 forbidden: message (request_id …)`. */
function describeFailure(status: number, body: Json, text: string): string {
  const error = field(body, "error");
  const code = field(error, "code");
  const message = field(error, "message");
  if (typeof code === "string") {
    const requestId = field(error, "request_id");
    return `${status} ${code}: ${cell(message)}${requestId ? ` (request_id ${cell(requestId)})` : ""}`;
  }
  return `${status}: ${text.slice(0, 200) || "(empty answer)"}`;
}

export async function send(io: OpsIo, base: string, key: string, call: Call): Promise<Answer> {
  const url = `${base}${call.path}`;
  const headers: Record<string, string> = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  if (call.body) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await io.fetch(url, {
      method: call.method,
      headers,
      body: call.body ? JSON.stringify(call.body) : undefined,
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : "";
    // What to do, said where it happens: the usual cause is a stack that is not running, or elsewhere.
    throw new ApiFailure(
      `${call.method} ${url} failed: ${error instanceof Error ? error.message : String(error)}${cause}: is \`npm run dev\` running? set POLICY_API_URL if the API listens elsewhere`,
    );
  }
  const text = await response.text();
  let body: Json = null;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (!response.ok && !call.accept?.includes(response.status)) {
    throw new ApiFailure(
      `${call.method} ${call.path}: ${describeFailure(response.status, body, text)}`,
      body,
    );
  }
  return { status: response.status, body, headers: response.headers };
}

/** Runs one command; answers the exit code (0 done, 1 the API refused or is unreachable, 2 usage). */
export async function runOps(argv: readonly string[], io: OpsIo): Promise<number> {
  const out = (text: string) => io.write(text, "stdout");
  const err = (text: string) => io.write(text, "stderr");
  let parsed: Parsed;
  let commandPlan: Plan;
  try {
    parsed = parse(argv);
    if (parsed.help) {
      out(USAGE);
      return 0;
    }
    parsed = await readStdinValues(parsed, io);
    commandPlan = plan(parsed);
    if (!io.env.POLICY_API_KEY) {
      fail(
        'POLICY_API_KEY is not set: export an admin API key (locally, `eval "$(npm run -s dev:env)"` sets it); ops never reads the database',
      );
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(usageMistake("npm run ops", error.message));
    return 2;
  }
  const key = io.env.POLICY_API_KEY;
  const base = (io.env.POLICY_API_URL || DEFAULT_API_URL).replace(/\/+$/, "");
  try {
    const answers: Answer[] = [];
    // In order: status reads health first, so a down API reads as such before the admin calls.
    for (const call of commandPlan.calls) answers.push(await send(io, base, key, call));
    const bodies = answers.map((answer) => answer.body);
    if (parsed.json) {
      const json =
        parsed.command === "status"
          ? { health: bodies[0], escalation: bodies[1], webhooks: bodies[2] }
          : bodies[0];
      out(JSON.stringify(json, null, 2));
    } else {
      out(commandPlan.render(bodies));
      const link = answers[0]?.headers.get("Link");
      if (link?.includes('rel="next"')) err("More requests than this page: narrow the filter (--tenant).");
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ApiFailure)) throw error;
    if (parsed.json && error.body !== undefined && error.body !== null) {
      out(JSON.stringify(error.body, null, 2));
    }
    err(`ops ${parsed.command} failed: ${error.message}`);
    return 1;
  }
}
