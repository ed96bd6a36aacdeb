// A notification as a Slack message (issue 26): `{ text, blocks }` in Block Kit, built from the one
// content model (notification-content.ts) plus the request's quorum progress. The headline is fixed
// wording with ids only. The server's facts are mrkdwn with `&`, `<`, `>` escaped (so `<!channel>`,
// `<@U…>`, `<#C…>`, `<!subteam^…>` and `<https://…|label>` are shown as text, never parsed) and
// `verbatim: true` (no auto-linking); bare `@channel`/`@here`/`@everyone` get a word joiner. What people
// wrote (justification, reason, notes) and the payload's JSON never enter mrkdwn at all: each is a
// rich_text block whose text elements Slack shows literally (no bold, italics, strike, code, links or
// mentions: those would be elements of their own), as a quote or preformatted. Slack's limits are kept:
// a section's text ≤ 3000 characters, a header ≤ 150, a button's text ≤ 75, ≤ 50 blocks; the fallback
// `text` ≤ 3000.
import {
  type NotificationContent,
  type NotificationFact,
  notificationFacts,
} from "./notification-content.ts";
import type { ApprovalEntry, NotificationKind } from "./vocabulary.ts";

/** The action ids of the message's buttons (the interaction handler dispatches on them). */
export const SLACK_ACTION_IDS = { approve: "approve", reject: "reject", open: "open_console" } as const;
/** The block id of the actions block: `decision:<request id>`. */
export const SLACK_ACTIONS_BLOCK_PREFIX = "decision:";

/** Slack's limits (https://api.slack.com/reference/block-kit). */
export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  buttonText: 75,
  fallbackText: 3000,
} as const;

/** The kinds posted as a new message; the others update the messages already posted. */
export const SLACK_POSTED_KINDS: readonly NotificationKind[] = ["approval_needed", "escalated", "reminder"];

/** How far a request's quorum has come: approvals counted (the `approve` entries) of those required. */
export interface QuorumProgress {
  approvals: number;
  required: number;
  approvers: string[];
}

export function quorumProgress(approvals: readonly ApprovalEntry[], required: number): QuorumProgress {
  const approving = approvals.filter((entry) => entry.action === "approve");
  return { approvals: approving.length, required, approvers: approving.map((entry) => entry.approver_id) };
}

const MRKDWN_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
/** Broadcast words Slack may turn into a mention when written bare. */
const BARE_MENTIONS = /@(channel|here|everyone)\b/giu;
const WORD_JOINER = "\u2060";

/**
 * Text as Slack mrkdwn data: `&`, `<`, `>` escaped (no `<…>` control sequence survives: no mention,
 * user, channel, user group or link), and bare broadcast words split by a word joiner.
 */
export function slackEscape(text: string): string {
  return defuseBroadcasts(text.replace(/[&<>]/g, (char) => MRKDWN_ESCAPES[char] ?? char));
}

function defuseBroadcasts(text: string): string {
  return text.replace(BARE_MENTIONS, (_, word: string) => `@${WORD_JOINER}${word}`);
}

/** Cut to `max` UTF-16 units (Slack counts characters) without splitting a pair, marked with "…". */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Cutting after escaping could split an entity (`&am…`): drop a partial one at the end. */
function cutEscaped(text: string, max: number): string {
  const cut = cutText(text, max);
  return cut === text ? text : cut.replace(/&[a-z]{0,4}…$/u, "…");
}

interface TextObject {
  type: "mrkdwn" | "plain_text";
  text: string;
  verbatim?: boolean;
  emoji?: boolean;
}

export interface SlackButton {
  type: "button";
  action_id: string;
  text: TextObject;
  value?: string;
  url?: string;
  style?: "primary" | "danger";
}

/** A rich_text element's literal text (https://api.slack.com/reference/block-kit/blocks#rich_text). */
interface RichTextRun {
  type: "text";
  text: string;
  style?: { bold?: boolean };
}

export interface RichTextElement {
  type: "rich_text_section" | "rich_text_quote" | "rich_text_preformatted";
  elements: RichTextRun[];
}

export type SlackBlock =
  | { type: "header"; text: TextObject }
  | { type: "rich_text"; elements: RichTextElement[] }
  | { type: "section"; text: TextObject }
  | { type: "context"; elements: TextObject[] }
  | { type: "divider" }
  | { type: "actions"; block_id: string; elements: SlackButton[] };

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

function mrkdwn(text: string): TextObject {
  return { type: "mrkdwn", text: cutEscaped(text, SLACK_LIMITS.sectionText), verbatim: true };
}

function plain(text: string, max: number): TextObject {
  return { type: "plain_text", text: cutText(text, max), emoji: false };
}

export interface SlackMessageOptions {
  progress: QuorumProgress;
  /** The request's console page (not a one-time view link: a channel is many readers). */
  consoleUrl: string;
  /** The workspace's max_decide_level: above it, only "Open in console". */
  maxDecideLevel: number;
  /** Whether the request still waits for a decision. */
  open: boolean;
}

/** Whether the message offers Approve and Reject: open, and at a level the workspace may decide. */
export function decidableInSlack(content: NotificationContent, options: SlackMessageOptions): boolean {
  return content.kind !== "decided" && options.open && content.requiredLevel <= options.maxDecideLevel;
}

/** A fact in people's words or the payload's JSON: its label in bold, then the value as literal text. */
function humanFactBlock(fact: NotificationFact & { human: "data" | "quote" }): SlackBlock {
  return {
    type: "rich_text",
    elements: [
      {
        type: "rich_text_section",
        elements: [{ type: "text", text: `${fact.label}:`, style: { bold: true } }],
      },
      {
        type: fact.human === "data" ? "rich_text_preformatted" : "rich_text_quote",
        // Literal already; the word joiner is defence in depth should a client ever parse broadcasts.
        elements: [{ type: "text", text: defuseBroadcasts(cutText(fact.value, SLACK_LIMITS.sectionText)) }],
      },
    ],
  };
}

/**
 * The facts in order: runs of the server's own as mrkdwn lines (`*label:* value`, escaped) packed into
 * sections of ≤ 3000 characters; each human one a rich_text block. At most `room` blocks.
 */
function factSections(facts: readonly (NotificationFact | string)[], room: number): SlackBlock[] {
  const sections: SlackBlock[] = [];
  let current = "";
  const flush = () => {
    if (current) sections.push({ type: "section", text: mrkdwn(current) });
    current = "";
  };
  for (const fact of facts) {
    if (typeof fact !== "string" && fact.human) {
      flush();
      sections.push(humanFactBlock({ ...fact, human: fact.human }));
      continue;
    }
    const line = typeof fact === "string" ? fact : `*${slackEscape(fact.label)}:* ${slackEscape(fact.value)}`;
    const piece = cutEscaped(line, SLACK_LIMITS.sectionText);
    if (current && current.length + 1 + piece.length > SLACK_LIMITS.sectionText) flush();
    current = current ? `${current}\n${piece}` : piece;
  }
  flush();
  if (sections.length <= room) return sections;
  const kept = sections.slice(0, Math.max(0, room - 1));
  kept.push({
    type: "section",
    text: mrkdwn(`_${sections.length - kept.length} more sections left out: open the console._`),
  });
  return kept;
}

function progressLine(progress: QuorumProgress): string {
  const who = progress.approvers.length ? ` (${progress.approvers.map(slackEscape).join(", ")})` : "";
  return `*Approvals:* ${progress.approvals} of ${progress.required}${who}`;
}

/**
 * The Slack message for `content`: a header (ids only), the fixed headline, the facts, the quorum's
 * progress, and the buttons: Approve and Reject (value: the request id) only while the request is open
 * and its level is within the workspace's max_decide_level, and always "Open in console".
 */
export function slackMessage(content: NotificationContent, options: SlackMessageOptions): SlackMessage {
  const decidable = decidableInSlack(content, options);
  const facts: (NotificationFact | string)[] = notificationFacts(content);
  if (content.kind !== "decided") facts.push(progressLine(options.progress));
  const buttons: SlackButton[] = [];
  if (decidable) {
    buttons.push(
      {
        type: "button",
        action_id: SLACK_ACTION_IDS.approve,
        text: plain("Approve", SLACK_LIMITS.buttonText),
        style: "primary",
        value: content.requestId,
      },
      {
        type: "button",
        action_id: SLACK_ACTION_IDS.reject,
        text: plain("Reject", SLACK_LIMITS.buttonText),
        style: "danger",
        value: content.requestId,
      },
    );
  }
  buttons.push({
    type: "button",
    action_id: SLACK_ACTION_IDS.open,
    text: plain("Open in console", SLACK_LIMITS.buttonText),
    url: options.consoleUrl,
  });
  const note =
    content.kind === "decided" || !options.open
      ? "Decided: nothing more to do here."
      : decidable
        ? "Approve and Reject act as your linked principal, at its own level; notes and anything else: the console."
        : `Level ${content.requiredLevel} is decided in the console only (this workspace decides up to level ${options.maxDecideLevel}).`;
  const head: SlackBlock[] = [
    { type: "header", text: plain(content.title, SLACK_LIMITS.headerText) },
    { type: "section", text: mrkdwn(`*${slackEscape(content.headline)}*`) },
  ];
  const tail: SlackBlock[] = [
    { type: "actions", block_id: `${SLACK_ACTIONS_BLOCK_PREFIX}${content.requestId}`, elements: buttons },
    { type: "context", elements: [mrkdwn(slackEscape(note))] },
  ];
  const room = SLACK_LIMITS.blocks - head.length - tail.length;
  return {
    text: cutEscaped(slackEscape(content.headline), SLACK_LIMITS.fallbackText),
    blocks: [...head, ...factSections(facts, room), ...tail],
  };
}
