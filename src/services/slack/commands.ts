// The /policy slash command (issue 26): `help`, `whoami` (who Slack decides as, and up to which level)
// and `link <code>` (a code from the console, redeemed by the link service the route hands in as a
// LinkRedeemer). Answers are ephemeral, on the command's response_url, after Slack has its 200.

import { escapeMrkdwn } from "../../domain/slack-text.ts";
import { LEVEL_NAMES } from "../../domain/vocabulary.ts";
import type { ServiceContext } from "../context.ts";
import { slackPrincipal } from "./identity.ts";
import { type SlackActor, slackReply } from "./interactions.ts";
import type { OpenedSlackWorkspace } from "./workspace.ts";

/**
 * Redeems a one-time link code for the Slack user who typed it: the principal it now stands for, or
 * why not (a sentence shown to the user as it is). Implemented by the link service
 * (src/services/slack/links.ts, redeemSlackLinkCode).
 */
export type LinkRedeemer = (
  ctx: ServiceContext,
  input: { tenantId: string; teamId: string; slackUserId: string; code: string },
) => Promise<{ principalId: string } | { refused: string }>;

export const SLACK_COMMAND_HELP = [
  "*/policy* commands:",
  "• `/policy link <code>`: link your Slack account to your Policy API principal (the code comes from the console)",
  "• `/policy whoami`: who you decide as from Slack, and up to which level",
  "• `/policy help`: this text",
].join("\n");

const level = (n: number) => `${n} (${LEVEL_NAMES[n - 1] ?? "unknown"})`;

async function whoami(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  actor: SlackActor,
): Promise<string> {
  const identity = await slackPrincipal(ctx, {
    tenantId: workspace.tenantId,
    teamId: actor.teamId,
    slackUserId: actor.slackUserId,
  });
  if ("refused" in identity) {
    return identity.refused === "not_linked"
      ? "Your Slack account is not linked to a Policy API principal. Link it with `/policy link <code>` (the code comes from the console), or ask an admin."
      : "Your Slack account is linked, but your principal holds no live approver or admin key for this tenant: you cannot decide requests from Slack.";
  }
  const { principal } = identity;
  const upTo = Math.min(principal.maxLevel, workspace.maxDecideLevel);
  return `You decide from Slack as \`${escapeMrkdwn(principal.principalId)}\` (key \`${principal.keyId}\`, ${principal.role}, level ${level(principal.maxLevel)}), on requests needing up to level ${level(upTo)}.`;
}

export async function onSlackCommand(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  command: { actor: SlackActor; text: string },
  redeem: LinkRedeemer,
): Promise<void> {
  const [verb = "", ...rest] = command.text.trim().split(/\s+/);
  const subcommand = verb.toLowerCase();
  ctx.log.info("slack_command", {
    via: "slack",
    subcommand: ["help", "whoami", "link", ""].includes(subcommand) ? subcommand || "help" : "unknown",
    tenant_id: workspace.tenantId,
    slack_user_id: command.actor.slackUserId,
  });
  if (subcommand === "whoami")
    return slackReply(ctx, command.actor, await whoami(ctx, workspace, command.actor));
  if (subcommand === "link") {
    const code = rest.join(" ");
    if (code === "")
      return slackReply(ctx, command.actor, "Send the code from the console: `/policy link <code>`.");
    const linked = await redeem(ctx, {
      tenantId: workspace.tenantId,
      teamId: command.actor.teamId,
      slackUserId: command.actor.slackUserId,
      code,
    });
    const text =
      "principalId" in linked
        ? `Linked: you now decide from Slack as \`${escapeMrkdwn(linked.principalId)}\`.`
        : `Not linked: ${escapeMrkdwn(linked.refused)}`;
    return slackReply(ctx, command.actor, text);
  }
  return slackReply(ctx, command.actor, SLACK_COMMAND_HELP);
}
