// The local Slack simulator (issue 26), behind `npm run slack` (scripts/slack-sim.ts): the fake Slack
// Web API (fake-slack.ts) on its own port, printing what the worker posts; connecting tenant `demo` to a
// simulated workspace through the admin API; and clicking Approve or Reject as a linked Slack user with
// a correctly signed interaction, so the whole flow is watched without Slack.
//
// The simulated workspace's bot token and signing secret are made once and kept in .data/slack-sim.json
// (mode 0600, git-ignored with the rest of .data): the worker holds them sealed, the click signs with
// the same secret. They are local stand-ins, never real Slack credentials.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type net from "node:net";
import path from "node:path";
import { slackSignature } from "../../src/domain/slack-signature.ts";
import { createFakeSlack, FAKE_SLACK_DEFAULT_TEAM, type SlackCall } from "./fake-slack.ts";

export const SLACK_SIM_DEFAULT_PORT = 8790;
/** The fake's default team: its `xoxb-local-…` token passes auth.test as this team (fake-slack.ts). */
export const SLACK_SIM_TEAM = FAKE_SLACK_DEFAULT_TEAM;
export const SLACK_SIM_CHANNEL = "CLOCAL";
export const SLACK_SIM_USER = "ULOCALAPPROVER";
/** The dev approver's principal (scripts/lib/dev-keys.ts): the simulated user is linked to it. */
export const SLACK_SIM_PRINCIPAL = "dev-approver";

/** The SLACK_API_BASE_URL that points a worker at the simulator on `port`. */
export function slackSimBaseUrl(port: number = SLACK_SIM_DEFAULT_PORT): string {
  return `http://127.0.0.1:${port}/slack/api/`;
}

export interface SlackSimState {
  team_id: string;
  bot_token: string;
  signing_secret: string;
}

/** The simulated workspace's credentials saved in `<dataDir>/slack-sim.json` by `connect`, if any. */
export function readSlackSimState(dataDir: string): SlackSimState | undefined {
  try {
    const saved = JSON.parse(
      readFileSync(path.join(dataDir, "slack-sim.json"), "utf8"),
    ) as Partial<SlackSimState>;
    if (saved.team_id && saved.bot_token && saved.signing_secret)
      return { team_id: saved.team_id, bot_token: saved.bot_token, signing_secret: saved.signing_secret };
  } catch {
    // First run, or the file was removed.
  }
  return undefined;
}

/** The simulated workspace's credentials: read from `<dataDir>/slack-sim.json`, made there the first time. */
export function ensureSlackSimState(dataDir: string): SlackSimState {
  const saved = readSlackSimState(dataDir);
  if (saved) return saved;
  const file = path.join(dataDir, "slack-sim.json");
  const state: SlackSimState = {
    team_id: SLACK_SIM_TEAM,
    bot_token: `xoxb-local-${randomBytes(12).toString("hex")}`,
    // Slack shows a signing secret as 32 lower-case hex characters; the API accepts only that shape.
    signing_secret: randomBytes(16).toString("hex"),
  };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return state;
}

/** Only a token's start is printed: enough to tell workspaces apart. */
const tokenHint = (token: string | null) => (token ? `${token.slice(0, 11)}…` : "no token");

function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && "text" in value) return textOf(value.text);
  return "";
}

/** A rich_text element's runs as one line: a quote marked "> ", preformatted text indented. */
function richTextLine(element: Record<string, unknown>): string {
  const runs = Array.isArray(element.elements) ? (element.elements as unknown[]).map(textOf).join("") : "";
  if (element.type === "rich_text_quote") return `> ${runs}`;
  if (element.type === "rich_text_preformatted") return `    ${runs}`;
  return runs;
}

/** A block's lines: headers and sections as their text, rich text by element, actions as their buttons. */
function blockLines(block: Record<string, unknown>): string[] {
  if (block.type === "rich_text" && Array.isArray(block.elements)) {
    return (block.elements as Record<string, unknown>[]).map(richTextLine);
  }
  if (block.type === "actions" && Array.isArray(block.elements)) {
    const buttons = (block.elements as Record<string, unknown>[]).map((button) => {
      const target = button.url
        ? ` → ${String(button.url)}`
        : ` (${String(button.action_id)} ${String(button.value ?? "")})`;
      return `[${textOf(button.text)}]${target}`;
    });
    return [`buttons: ${buttons.join("  ")}`];
  }
  const lines = textOf(block.text) ? [textOf(block.text)] : [];
  if (Array.isArray(block.fields)) lines.push(...(block.fields as unknown[]).map(textOf));
  if (Array.isArray(block.elements)) lines.push(...(block.elements as unknown[]).map(textOf).filter(Boolean));
  return lines.flatMap((line) => line.split("\n"));
}

/** What a call to the simulator means to a person, in a few lines: the message, its buttons, the reply. */
export function describeSlackCall(call: SlackCall): string[] {
  const json = call.json ?? {};
  const head =
    call.method === "response_url"
      ? `response_url ${call.path} → ${call.status}`
      : `${call.method} → ${call.status}  (${tokenHint(call.token)})`;
  const lines: string[] = [];
  if (call.method === "chat.postMessage" || call.method === "chat.update") {
    lines.push(`channel ${String(json.channel ?? "?")}${json.ts ? `  ts ${String(json.ts)}` : ""}`);
    if (json.text) lines.push(`text: ${String(json.text)}`);
    if (Array.isArray(json.blocks))
      lines.push(...(json.blocks as Record<string, unknown>[]).flatMap(blockLines));
  } else if (call.method === "views.open") {
    const view = (json.view ?? {}) as Record<string, unknown>;
    lines.push(`modal "${textOf(view.title)}" (${String(view.callback_id ?? "")})`);
    if (Array.isArray(view.blocks))
      lines.push(...(view.blocks as Record<string, unknown>[]).flatMap(blockLines));
  } else if (call.method === "response_url") {
    lines.push(`${String(json.response_type ?? "")}: ${String(json.text ?? call.body)}`);
  }
  return [head, ...lines.map((line) => `    ${line}`)];
}

export interface SlackSimulator {
  port: number;
  baseUrl: string;
  calls: SlackCall[];
  close(): Promise<void>;
}

/** Serves the fake Web API on 127.0.0.1:`port` (0: any free port), printing each call as it comes. */
export async function startSlackSimulator(
  options: { port?: number; print?: (line: string) => void } = {},
): Promise<SlackSimulator> {
  const print = options.print ?? (() => {});
  const fake = createFakeSlack({ onCall: (call) => print(describeSlackCall(call).join("\n")) });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (!fake.handle(req, res, url, Buffer.concat(chunks).toString("utf8")))
        res.writeHead(404, { "Content-Type": "application/json" }).end('{"ok":false,"error":"not_slack"}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? SLACK_SIM_DEFAULT_PORT, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    baseUrl: slackSimBaseUrl(port),
    calls: fake.calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface Answer {
  what: string;
  status: number;
  body: string;
}

async function answer(what: string, res: Response): Promise<Answer> {
  return { what, status: res.status, body: await res.text() };
}

/**
 * Connects `tenant` to the simulated workspace (PUT: 201 connected, 200 already there) and links the
 * simulated approver to the dev approver (201, or 200 when linked already). Throws on any other answer.
 */
export async function connectSlackSim(
  api: string,
  adminKey: string,
  state: SlackSimState,
  tenant = "demo",
): Promise<Answer[]> {
  const headers = { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" };
  const base = `${api}/api/v1/admin/slack/workspaces/${tenant}`;
  const workspace = await answer(
    `PUT /api/v1/admin/slack/workspaces/${tenant}`,
    await fetch(base, {
      method: "PUT",
      headers,
      body: JSON.stringify({ ...state, default_channel: SLACK_SIM_CHANNEL }),
      signal: AbortSignal.timeout(10_000),
    }),
  );
  if (workspace.status !== 201 && workspace.status !== 200)
    throw new Error(`${workspace.what} answered ${workspace.status}: ${workspace.body}`);
  const link = await answer(
    `POST /api/v1/admin/slack/workspaces/${tenant}/links`,
    await fetch(`${base}/links`, {
      method: "POST",
      headers,
      body: JSON.stringify({ slack_user_id: SLACK_SIM_USER, principal_id: SLACK_SIM_PRINCIPAL }),
      signal: AbortSignal.timeout(10_000),
    }),
  );
  if (link.status !== 201 && link.status !== 200)
    throw new Error(`${link.what} answered ${link.status}: ${link.body}`);
  return [workspace, link];
}

export interface ClickOptions {
  api: string;
  simulator: string;
  state: SlackSimState;
  action: "approve" | "reject";
  requestId: string;
  user?: string;
  reason?: string;
  tenant?: string;
}

/** Posts one interaction as Slack does: a form with `payload`, signed with the workspace's secret now. */
async function postInteraction(options: ClickOptions, what: string, payload: unknown): Promise<Answer> {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const res = await fetch(`${options.api}/integrations/slack/${options.tenant ?? "demo"}/interactions`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      "X-Slack-Request-Timestamp": timestamp,
      "X-Slack-Signature": await slackSignature(options.state.signing_secret, timestamp, body),
    },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return answer(what, res);
}

/**
 * Clicks Approve or Reject on the request's message as `user` (default the linked approver). A reject
 * then submits the modal with the reason, as the person would. The answers are the worker's; the
 * outcome itself arrives on the response_url (at the simulator) and as a chat.update.
 */
export async function clickSlackSim(
  options: ClickOptions,
): Promise<{ answers: Answer[]; responseUrl: string }> {
  const team = options.state.team_id;
  const user = options.user ?? SLACK_SIM_USER;
  const nonce = randomBytes(6).toString("hex");
  const responseUrl = `${new URL(options.simulator).origin}/slack/response/click-${nonce}`;
  const answers = [
    await postInteraction(options, `block_actions ${options.action}`, {
      type: "block_actions",
      team: { id: team, domain: "local" },
      user: { id: user, team_id: team, username: user.toLowerCase() },
      trigger_id: `trigger-${nonce}`,
      response_url: responseUrl,
      container: { type: "message", channel_id: SLACK_SIM_CHANNEL, message_ts: "0.000000" },
      actions: [
        {
          type: "button",
          action_id: options.action,
          block_id: `decision:${options.requestId}`,
          value: options.requestId,
        },
      ],
    }),
  ];
  if (options.action === "reject") {
    answers.push(
      await postInteraction(options, "view_submission policy_reject", {
        type: "view_submission",
        team: { id: team },
        user: { id: user, team_id: team },
        view: {
          id: `V${nonce}`,
          callback_id: "policy_reject",
          private_metadata: JSON.stringify({ request_id: options.requestId, response_url: responseUrl }),
          state: {
            values: {
              reason: {
                reason: { type: "plain_text_input", value: options.reason ?? "Rejected from the simulator" },
              },
            },
          },
        },
      }),
    );
  }
  return { answers, responseUrl };
}

/** The ephemeral replies the simulator got on `responseUrl` so far (none when it is not running). */
export async function slackSimReplies(responseUrl: string): Promise<string[]> {
  const url = new URL(responseUrl);
  try {
    const res = await fetch(`${url.origin}/slack/_calls?path=${encodeURIComponent(url.pathname)}`, {
      signal: AbortSignal.timeout(2000),
    });
    return ((await res.json()) as SlackCall[]).map((call) => String(call.json?.text ?? call.body));
  } catch {
    return [];
  }
}
