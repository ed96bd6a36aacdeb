// Checking a bot token with Slack before a workspace is connected or its token replaced (issue 26):
// Slack's `auth.test`, through the sender's own call (callSlackApi, SLACK_API_BASE_URL), bounded by
// SLACK_TOKEN_CHECK_TIMEOUT_MS. A token Slack refuses is a 400 naming bot_token; a token of another
// team a 400 naming team_id (both team ids said, never the token); Slack unreachable, rate limited or
// failing a 503 upstream_unavailable. Nothing is stored by this module: the caller writes after it.
import { canonicalSlackId } from "../../domain/slack-ids.ts";
import { ApiError, invalidField } from "../../lib/errors.ts";
import type { ServiceContext } from "../context.ts";
import { callSlackApi } from "./send.ts";

/** A few seconds: an admin waits on it, and Slack answers auth.test in well under one. */
export const SLACK_TOKEN_CHECK_TIMEOUT_MS = 5_000;

/** Retry-After of the 503 when Slack named none (a 429 names its own). */
const UPSTREAM_RETRY_SECONDS = 10;

/** Longest team name kept from Slack's answer: a display name, bounded like any text shown. */
const TEAM_NAME_MAX_LENGTH = 200;

/** Errors by which Slack says the token itself is no good: the admin must bring another. */
export const SLACK_TOKEN_REFUSALS = new Set([
  "invalid_auth",
  "not_authed",
  "account_inactive",
  "token_revoked",
  "token_expired",
  "not_allowed_token_type",
  "no_permission",
  "team_access_not_granted",
  "ekm_access_denied",
  "missing_scope",
]);

/** Slack's error codes: lower-case words joined by underscores (invalid_auth). */
const SLACK_ERROR_CODE = /^[a-z0-9_]{1,60}$/;

/** What Slack said about a token it accepted: what helps an admin see it is the right workspace. */
export interface SlackTokenCheck {
  team_id: string;
  /** The workspace's name as Slack gives it (data from Slack: shown escaped), or null. */
  team_name: string | null;
  /** The bot's user id (U…), or null when Slack's answer had none in that shape. */
  bot_user_id: string | null;
}

function textOrNull(value: unknown, max: number): string | null {
  if (typeof value !== "string") return null;
  // Control characters dropped: a name is one line of text wherever it is shown.
  const text = value.replace(/\p{Cc}/gu, "").trim();
  return text === "" ? null : text.slice(0, max);
}

/**
 * Asks Slack who `token` is and holds the answer to `teamId` (canonical). Answers what Slack said, or
 * throws the refusal: 400 naming bot_token or team_id, or 503 upstream_unavailable.
 */
export async function checkSlackBotToken(
  ctx: ServiceContext,
  token: string,
  teamId: string,
): Promise<SlackTokenCheck> {
  const result = await callSlackApi(
    ctx.config.SLACK_API_BASE_URL,
    token,
    "auth.test",
    {},
    SLACK_TOKEN_CHECK_TIMEOUT_MS,
  );
  if (result.kind === "ok") {
    const theirs = canonicalSlackId("team", String(result.body.team_id ?? ""));
    if (!theirs.ok) return unusable(ctx, 200, "auth.test answered no team id");
    if (theirs.value !== teamId) {
      throw invalidField(
        "team_id",
        `the bot token belongs to Slack team ${theirs.value}, not ${teamId}: connect it as ${theirs.value}, or bring ${teamId}'s token`,
      );
    }
    const botUser = canonicalSlackId("user", String(result.body.user_id ?? ""));
    return {
      team_id: theirs.value,
      team_name: textOrNull(result.body.team, TEAM_NAME_MAX_LENGTH),
      bot_user_id: botUser.ok ? botUser.value : null,
    };
  }
  if (result.kind === "failed" && result.status === 200) {
    // Slack answered and said no. Whatever the code, the token cannot be used as it is. The code is
    // repeated only in Slack's own shape (snake_case), so an answer cannot put other text in ours.
    const code = SLACK_ERROR_CODE.test(result.error) ? result.error : "unknown_error";
    throw invalidField(
      "bot_token",
      SLACK_TOKEN_REFUSALS.has(code)
        ? `Slack refused the token (${code}): copy the Bot User OAuth Token again, or reinstall the app`
        : `Slack did not accept the token (${code})`,
    );
  }
  if (result.kind === "not_sent") return unusable(ctx, null, "not sent");
  return unusable(
    ctx,
    result.status,
    result.error,
    result.kind === "retry" ? (result.retryAfter ?? undefined) : undefined,
  );
}

/** Slack could not be asked, or answered nothing usable: a 503 the admin retries; nothing was stored. */
function unusable(ctx: ServiceContext, status: number | null, error: string, retryAfter?: number): never {
  ctx.log.warn("slack_token_check_unavailable", { status, error });
  const seconds = Math.max(1, Math.min(retryAfter ?? UPSTREAM_RETRY_SECONDS, 300));
  throw new ApiError(
    "upstream_unavailable",
    status === 429
      ? "Slack is rate limiting the token check: nothing was stored; try again after Retry-After seconds"
      : `Slack could not be reached to check the bot token (${status === null ? "no answer" : `HTTP ${status}`}): nothing was stored; try again shortly`,
    undefined,
    { "Retry-After": String(seconds) },
  );
}
