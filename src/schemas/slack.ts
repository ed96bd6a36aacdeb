// The Slack administration on the wire (issue 26): /api/v1/admin/slack/workspaces bodies, parameters and
// answers. A workspace's answer says whether its bot token and signing secret are set, never them.
// Slack ids are folded to Slack's own form (upper case) and checked by the rules of domain/slack-ids.ts.
import { z } from "@hono/zod-openapi";
import {
  canonicalSlackId,
  canonicalSlackIdText,
  MAX_SLACK_ROUTES,
  SLACK_BOT_TOKEN_MAX_LENGTH,
  SLACK_BOT_TOKEN_PATTERN,
  SLACK_BOT_TOKEN_RULE,
  SLACK_ID_RULES,
  SLACK_SIGNING_SECRET_PATTERN,
  SLACK_SIGNING_SECRET_RULE,
  type SlackIdKind,
} from "../domain/slack-ids.ts";
import type { SlackLinkSummary, SlackWorkspaceSummary } from "../services/slack/admin.ts";
import type { SlackTokenCheck } from "../services/slack/verify-token.ts";
import { Identifier, pageQuery, SkillPattern, type WireMatches } from "./common.ts";

/** A Slack id of `kind`: folded (NFKC, upper case, trimmed), then held to Slack's shape. */
function slackId(kind: SlackIdKind) {
  return z
    .string()
    .max(256)
    .overwrite(canonicalSlackIdText)
    .refine((value) => canonicalSlackId(kind, value).ok, SLACK_ID_RULES[kind])
    .openapi({ description: `${SLACK_ID_RULES[kind]}; folded to upper case` });
}

export const SlackTeamId = slackId("team");
export const SlackChannelId = slackId("channel");
export const SlackUserId = slackId("user");

const SlackLevel = z.number().int().min(1).max(5);

export const SlackRouteSchema = z
  .object({
    skill_pattern: SkillPattern.optional(),
    level: SlackLevel.optional().openapi({ description: "A request's required level, 1–5" }),
    channel: SlackChannelId,
  })
  .strict()
  .refine((route) => route.skill_pattern !== undefined || route.level !== undefined, {
    message: "a route needs skill_pattern, level or both",
    path: ["skill_pattern"],
  })
  .openapi("SlackRoute");

export const SlackWorkspaceBody = z
  .object({
    team_id: SlackTeamId,
    bot_token: z
      .string()
      .max(SLACK_BOT_TOKEN_MAX_LENGTH, SLACK_BOT_TOKEN_RULE)
      .regex(SLACK_BOT_TOKEN_PATTERN, SLACK_BOT_TOKEN_RULE)
      .optional()
      .openapi({
        description: `${SLACK_BOT_TOKEN_RULE}. Stored sealed, never shown; omit on a replace to keep it.`,
      }),
    signing_secret: z
      .string()
      .max(64, SLACK_SIGNING_SECRET_RULE)
      .regex(SLACK_SIGNING_SECRET_PATTERN, SLACK_SIGNING_SECRET_RULE)
      .optional()
      .openapi({
        description: `${SLACK_SIGNING_SECRET_RULE}. Stored sealed, never shown; omit on a replace to keep it.`,
      }),
    default_channel: SlackChannelId.openapi({ description: "Where requests go when no route matches" }),
    routes: z
      .array(SlackRouteSchema)
      .max(MAX_SLACK_ROUTES)
      .optional()
      .openapi({
        description: `At most ${MAX_SLACK_ROUTES} rules; the first that matches picks the channel`,
      }),
    max_decide_level: SlackLevel.optional().openapi({
      description:
        "The highest required level Slack may decide (default 4); above it only a link to the console",
    }),
  })
  .strict()
  .openapi("SlackWorkspaceInput");

export const SlackWorkspaceSchema = z
  .object({
    tenant_id: z.string(),
    team_id: z.string(),
    default_channel: z.string(),
    routes: z.array(
      z.object({
        skill_pattern: z.string().optional(),
        level: z.number().int().optional(),
        channel: z.string(),
      }),
    ),
    max_decide_level: z.number().int(),
    has_bot_token: z.boolean(),
    has_signing_secret: z.boolean(),
    created_by: z.string(),
    created_at: z.string(),
    updated_by: z.string(),
    updated_at: z.string(),
  })
  .openapi("SlackWorkspace");

/** What Slack's auth.test said of the bot token just given (src/services/slack/verify-token.ts). */
export const SlackTokenCheckSchema = z
  .object({
    team_id: z.string().openapi({ description: "The token's team, as Slack said: the body's team_id" }),
    team_name: z
      .string()
      .nullable()
      .openapi({ description: "The workspace's name, as Slack gave it (text from Slack: show it escaped)" }),
    bot_user_id: z.string().nullable().openapi({ description: "The bot's Slack user id (U…)" }),
  })
  .openapi("SlackTokenCheck");

/** A connect or replace answer: the workspace, and token_check when a bot token was given and checked. */
export const ConnectedSlackWorkspaceSchema = SlackWorkspaceSchema.extend({
  token_check: SlackTokenCheckSchema.optional().openapi({
    description: "Present when the body carried a bot_token: Slack's auth.test answer for it",
  }),
}).openapi("ConnectedSlackWorkspace");

/** The token check is exactly the service's answer. */
export const SLACK_TOKEN_CHECK_IS_THE_WIRE: WireMatches<
  z.infer<typeof SlackTokenCheckSchema>,
  SlackTokenCheck
> = true;

export const DisconnectedSlackWorkspaceSchema = SlackWorkspaceSchema.extend({
  links_removed: z.number().int().openapi({ description: "The team's links removed with it" }),
}).openapi("DisconnectedSlackWorkspace");

export const SlackLinkSchema = z
  .object({
    tenant_id: z.string(),
    team_id: z.string(),
    slack_user_id: z.string(),
    principal_id: z.string(),
    method: z.enum(["admin", "console"]),
    linked_by: z.string(),
    created_at: z.string(),
  })
  .openapi("SlackUserLink");

/** The services' summaries are exactly these schemas' shapes. */
export const SLACK_WORKSPACE_IS_THE_WIRE: WireMatches<
  z.infer<typeof SlackWorkspaceSchema>,
  SlackWorkspaceSummary
> = true;
export const SLACK_LINK_IS_THE_WIRE: WireMatches<z.infer<typeof SlackLinkSchema>, SlackLinkSummary> = true;

export const SlackLinkBody = z
  .object({ slack_user_id: SlackUserId, principal_id: Identifier })
  .strict()
  .openapi("SlackUserLinkInput");

export const SlackTenantParam = z.object({
  tenant_id: Identifier.openapi({ param: { name: "tenant_id", in: "path" }, example: "acme" }),
});

export const SlackLinkParam = SlackTenantParam.extend({
  slack_user_id: SlackUserId.openapi({ param: { name: "slack_user_id", in: "path" }, example: "U024BE7LH" }),
});

export const SlackWorkspaceListQuery = z.object({
  ...pageQuery({ maxLimit: 500, defaultLimit: 100, maxOffset: 1_000_000 }),
});

export const SlackLinkListQuery = z.object({
  principal_id: Identifier.optional(),
  ...pageQuery({ maxLimit: 500, defaultLimit: 100, maxOffset: 1_000_000 }),
});
