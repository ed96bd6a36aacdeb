// The Slack interaction contract and what the integration says back (issue 26). The request message's
// buttons (built by the notification side) carry `action_id` approve / reject and `value` = the request
// id; rejecting opens a modal whose reason input and metadata are named here. Every reply is an
// ephemeral mrkdwn text: server-written words, human text only through slackQuotedText.
import type { ActionEffect } from "./approvals.ts";
import { escapeMrkdwn, slackQuotedText } from "./slack-text.ts";
import { LEVEL_NAMES } from "./vocabulary.ts";

/** The buttons' action ids; the button's `value` is the request id (apr_…). */
export const SLACK_DECISION_ACTIONS = ["approve", "reject"] as const;
export type SlackDecisionAction = (typeof SLACK_DECISION_ACTIONS)[number];

export function isSlackDecisionAction(actionId: string): actionId is SlackDecisionAction {
  return (SLACK_DECISION_ACTIONS as readonly string[]).includes(actionId);
}

/** The reject modal: its callback id and the required reason input's block and action ids. */
export const REJECT_MODAL = { callbackId: "policy_reject", blockId: "reason", actionId: "reason" } as const;

/** The longest reason the modal takes (Slack's plain_text_input max_length is 3000). */
export const MAX_REJECT_REASON_CHARS = 2000;

/** Why a click decided nothing before reaching the approval service. */
export type SlackActionRefusal =
  | "not_linked"
  | "no_deciding_key"
  | "unknown_request"
  | "above_slack_level"
  | "under_level";

const levelName = (level: number) => `${level} (${LEVEL_NAMES[level - 1] ?? "unknown"})`;

export function slackRefusalText(
  reason: SlackActionRefusal,
  facts: { requiredLevel?: number; keyLevel?: number; maxDecideLevel?: number } = {},
): string {
  switch (reason) {
    case "not_linked":
      return "You cannot decide requests from Slack: your Slack account is not linked to a Policy API approver. Link it with `/policy link <code>` (the code comes from the console), or ask an admin.";
    case "no_deciding_key":
      return "You cannot decide this request from Slack: your linked principal holds no live approver or admin key for this tenant.";
    case "unknown_request":
      return "No such request in this workspace's tenant.";
    case "above_slack_level":
      return `This request needs level ${levelName(facts.requiredLevel ?? 0)}, above what this workspace decides from Slack (${levelName(facts.maxDecideLevel ?? 0)}): open it in the console.`;
    case "under_level":
      return `You cannot decide this request: it needs level ${levelName(facts.requiredLevel ?? 0)} and your key's level is ${levelName(facts.keyLevel ?? 0)}.`;
  }
}

/** What an accepted approve or reject did, for the person who clicked. */
export function slackEffectText(
  requestId: string,
  effect: ActionEffect,
  action: SlackDecisionAction,
): string {
  const id = `\`${escapeMrkdwn(requestId)}\``;
  switch (effect.effect) {
    case "decided":
      return `Done: request ${id} is now *${effect.status}*.`;
    case "counted":
      return `Your ${action === "approve" ? "approval" : "rejection"} of ${id} counts: ${effect.approvals} of ${effect.needed} approvals needed. The request is still ${effect.status}.`;
    case "noted":
      return `Not counted: your level (${effect.level}) is below the level ${id} needs (${effect.requiredLevel}); kept as a note. The request is still ${effect.status}.`;
  }
}

/** An error the approval service gave (already decided, self-approval…), its message quoted as data. */
export function slackErrorText(requestId: string, message: string): string {
  return `Not recorded for \`${escapeMrkdwn(requestId)}\`: ${slackQuotedText(message)}`;
}
