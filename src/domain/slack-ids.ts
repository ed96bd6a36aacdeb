// Slack's identifiers and credentials as the Slack integration takes them in (issue 26): team, channel
// and user ids in Slack's own canonical form (upper case, as Slack writes them: a pasted `t0123abc` is
// T0123ABC), the bot token's and the signing secret's shapes. Pure; the wire schemas and the services
// call these, so one rule holds for REST, the console and the slash command.

/** Longest Slack id taken: Slack's are about 9 to 12 characters; the bound only stops abuse. */
export const SLACK_ID_MAX_LENGTH = 32;

export const SLACK_TEAM_ID_PATTERN = /^T[A-Z0-9]+$/;
/** Public (C…) and private (G…) channels: where requests are posted. */
export const SLACK_CHANNEL_ID_PATTERN = /^[CG][A-Z0-9]+$/;
/** Users (U…) and Enterprise Grid users (W…). */
export const SLACK_USER_ID_PATTERN = /^[UW][A-Z0-9]+$/;

export const SLACK_ID_RULES = {
  team: "a Slack team id: T then upper-case letters and digits (e.g. T024BE7LD)",
  channel: "a Slack channel id: C or G then upper-case letters and digits (e.g. C024BE91L)",
  user: "a Slack user id: U or W then upper-case letters and digits (e.g. U024BE7LH)",
} as const;

const PATTERNS = {
  team: SLACK_TEAM_ID_PATTERN,
  channel: SLACK_CHANNEL_ID_PATTERN,
  user: SLACK_USER_ID_PATTERN,
} as const;

export type SlackIdKind = keyof typeof PATTERNS;

/** The fold of a Slack id: NFKC (full-width forms become ASCII), upper case, surrounding space removed. */
export function canonicalSlackIdText(raw: string): string {
  return raw.normalize("NFKC").toUpperCase().trim();
}

/** A Slack id of `kind` in its canonical form, or why it is refused. */
export function canonicalSlackId(
  kind: SlackIdKind,
  raw: string,
): { ok: true; value: string } | { ok: false; reason: string } {
  const value = canonicalSlackIdText(raw);
  if (value.length < 2 || value.length > SLACK_ID_MAX_LENGTH || !PATTERNS[kind].test(value)) {
    return { ok: false, reason: `${SLACK_ID_RULES[kind]}, at most ${SLACK_ID_MAX_LENGTH} characters` };
  }
  return { ok: true, value };
}

/** A bot token: `xoxb-` then letters, digits and dashes; Slack's are under 100 characters. */
export const SLACK_BOT_TOKEN_PATTERN = /^xoxb-[A-Za-z0-9-]+$/;
export const SLACK_BOT_TOKEN_MAX_LENGTH = 255;
export const SLACK_BOT_TOKEN_RULE = `a bot token: xoxb- then letters, digits and dashes, at most ${SLACK_BOT_TOKEN_MAX_LENGTH} characters`;

/** Slack's signing secret (Basic Information of the app): 32 lower-case hexadecimal characters. */
export const SLACK_SIGNING_SECRET_PATTERN = /^[0-9a-f]{32}$/;
export const SLACK_SIGNING_SECRET_RULE = "the app's signing secret: 32 lower-case hexadecimal characters";

/** Routing rules per workspace: enough for any real routing table, small enough to read per message. */
export const MAX_SLACK_ROUTES = 50;

/** The levels a workspace may let Slack decide up to (slack_workspaces.max_decide_level). */
export const DEFAULT_MAX_DECIDE_LEVEL = 4;
