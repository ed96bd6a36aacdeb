// A stand-in for Slack's Web API (https://slack.com/api/<method>) and for interaction response_urls,
// served under /slack/ by the test receiver (test/setup/webhook-receiver.ts) and by the local simulator
// (`npm run slack -- serve`, scripts/slack-sim.ts). The worker reaches it when SLACK_API_BASE_URL points
// at `<server>/slack/api/`. It records every call, so a test reads back
// exactly what was posted, updated or opened, and answers as Slack does: HTTP 200 with {"ok": true, ...}
// or {"ok": false, "error": "..."}, 429 with Retry-After, 5xx.
//
// The bot token chooses how it answers (each test uses tokens of its own, so calls stay apart):
//   xoxb-…-ratelimited-<n>-…  the first n calls with this token: 429, Retry-After: 3
//   xoxb-…-fail500-<n>-…      the first n calls: 500
//   xoxb-…-invalid-…          {"ok": false, "error": "invalid_auth"}
//   anything else             ok: chat.postMessage → {ok, channel, ts, message}; chat.update → {ok, channel,
//                             ts}; views.open → {ok, view: {id}}; chat.postEphemeral → {ok, message_ts};
//                             auth.test → {ok, url, team, team_id, user, user_id, bot_id} (below);
//                             any other method → {ok: true}
// auth.test's team: a token whose first part after `xoxb-` is a team id names it (`xoxb-T0ABC123-…` is
// team T0ABC123, as a test connecting team T0ABC123 writes it); any other token (`xoxb-local-…`,
// `xoxb-1111-2222-…`) is team FAKE_SLACK_DEFAULT_TEAM (TLOCAL, the simulator's). The team's name is
// `Fake team <id>`, or with `-hostilename-` in the token a name full of markup and mentions; the bot user
// is U + the id's rest + BOT. The scenarios above apply to auth.test like any method.
// POST /slack/response/<name> is a response_url: recorded, answered {"ok": true}.
// GET /slack/_calls?token=T (or ?path=P) returns the recorded calls, oldest first.
import type http from "node:http";

export interface SlackCall {
  /** The Web API method (chat.postMessage, …), or "response_url". */
  method: string;
  path: string;
  /** The bearer token, or null (a response_url takes none). */
  token: string | null;
  contentType: string;
  body: string;
  /** The body as JSON (a JSON body, or a form's fields with JSON values parsed), when it is one. */
  json: Record<string, unknown> | null;
  status: number;
  at: number;
}

function parsed(body: string, contentType: string): Record<string, unknown> | null {
  try {
    if (contentType.includes("application/json")) return JSON.parse(body) as Record<string, unknown>;
    if (contentType.includes("application/x-www-form-urlencoded")) {
      const fields: Record<string, unknown> = {};
      for (const [key, value] of new URLSearchParams(body)) {
        try {
          fields[key] = /^[[{]/.test(value) ? JSON.parse(value) : value;
        } catch {
          fields[key] = value;
        }
      }
      return fields;
    }
  } catch {
    // Recorded raw.
  }
  return null;
}

/** auth.test's team for a token that names none (the local simulator's workspace). */
export const FAKE_SLACK_DEFAULT_TEAM = "TLOCAL";
/** The team name auth.test gives a `-hostilename-` token: what a hostile workspace could call itself. */
export const FAKE_SLACK_HOSTILE_TEAM_NAME = '<script>alert(1)</script> <!channel> <@U0BOSS> & "x"';

/** The team a token stands for at this fake (see the header). */
export function fakeSlackTeamOf(token: string): string {
  const named = /^xoxb-(T[A-Z0-9]+)-/.exec(token);
  return named?.[1] ?? FAKE_SLACK_DEFAULT_TEAM;
}

/** auth.test's answer for an accepted token, in Slack's shape. */
function authTest(token: string) {
  const team = fakeSlackTeamOf(token);
  const rest = team.slice(1);
  return {
    ok: true,
    url: `https://${team.toLowerCase()}.slack.test/`,
    team: token.includes("-hostilename-") ? FAKE_SLACK_HOSTILE_TEAM_NAME : `Fake team ${team}`,
    user: "policy-api",
    team_id: team,
    user_id: `U${rest}BOT`,
    bot_id: `B${rest}BOT`,
  };
}

/** `onCall` hears of each call as it is recorded (the simulator prints them). */
export function createFakeSlack(options: { onCall?: (call: SlackCall) => void } = {}) {
  const calls: SlackCall[] = [];
  const hits = new Map<string, number>();
  let sequence = 0;

  /** Answers `path` under /slack/ (true), or leaves it to the receiver (false). */
  function handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): boolean {
    const path = url.pathname;
    if (!path.startsWith("/slack/")) return false;
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { "Content-Type": "application/json", ...headers }).end(JSON.stringify(value));
    if (req.method === "GET" && path === "/slack/_calls") {
      const token = url.searchParams.get("token");
      const wanted = url.searchParams.get("path");
      json(
        200,
        calls.filter(
          (call) => (token === null || call.token === token) && (wanted === null || call.path === wanted),
        ),
      );
      return true;
    }
    const contentType = String(req.headers["content-type"] ?? "");
    const record = (method: string, token: string | null, status: number) => {
      const call: SlackCall = {
        method,
        path,
        token,
        contentType,
        body,
        json: parsed(body, contentType),
        status,
        at: Date.now(),
      };
      calls.push(call);
      options.onCall?.(call);
    };
    if (req.method === "POST" && path.startsWith("/slack/response/")) {
      record("response_url", null, 200);
      json(200, { ok: true });
      return true;
    }
    const api = /^\/slack\/api\/([\w.]+)$/.exec(path);
    if (req.method !== "POST" || !api) {
      json(404, { ok: false, error: "unknown_method" });
      return true;
    }
    const method = api[1] ?? "";
    const authorization = String(req.headers.authorization ?? "");
    const token = authorization.startsWith("Bearer ") ? authorization.slice(7) : null;
    if (!token) {
      record(method, null, 200);
      json(200, { ok: false, error: "not_authed" });
      return true;
    }
    const count = (hits.get(token) ?? 0) + 1;
    hits.set(token, count);
    const limited = /-ratelimited-(\d+)-/.exec(token);
    if (limited && count <= Number(limited[1])) {
      record(method, token, 429);
      json(429, { ok: false, error: "ratelimited" }, { "Retry-After": "3" });
      return true;
    }
    const failing = /-fail500-(\d+)-/.exec(token);
    if (failing && count <= Number(failing[1])) {
      record(method, token, 500);
      json(500, { ok: false, error: "internal_error" });
      return true;
    }
    record(method, token, 200);
    if (token.includes("-invalid-")) {
      json(200, { ok: false, error: "invalid_auth" });
      return true;
    }
    const request = parsed(body, contentType) ?? {};
    const channel = String(request.channel ?? "C000");
    sequence += 1;
    const ts = `${Math.floor(Date.now() / 1000)}.${String(sequence).padStart(6, "0")}`;
    if (method === "chat.postMessage") json(200, { ok: true, channel, ts, message: { ts, ...request } });
    else if (method === "chat.update") json(200, { ok: true, channel, ts: String(request.ts ?? ts) });
    else if (method === "views.open") json(200, { ok: true, view: { id: `V${sequence}` } });
    else if (method === "chat.postEphemeral") json(200, { ok: true, message_ts: ts });
    else if (method === "auth.test") json(200, authTest(token));
    else json(200, { ok: true });
    return true;
  }

  return { handle, calls };
}
