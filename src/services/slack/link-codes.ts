// Self-service links between a Slack account and a principal (issue 26), proven from both sides: the
// principal, signed in to its console, asks for a link code (issueSlackLinkCode: signed, 10 minutes,
// shown once); the Slack account that will act types it (`/policy link <code>`), and the slash command
// (services/slack/commands.ts, through src/routes/slack.ts) calls redeemSlackLinkCode. A code works once: its jti is recorded in the redeem's audit
// event (target slack_link_code), looked up under a lock on the jti before linking. The console page
// also lists a principal's own links and lets it remove one.

import { findSlackWorkspace } from "../../db/slack.ts";
import {
  decidingLevelOver,
  deleteSlackLink,
  insertSlackLink,
  listSlackLinkRows,
} from "../../db/slack-admin.ts";
import { can, inTenantScope, type Principal } from "../../domain/access.ts";
import { canonicalId } from "../../domain/limits.ts";
import { canonicalSlackId } from "../../domain/slack-ids.ts";
import { mintSlackLinkCode, slackLinkCodeKey, verifySlackLinkCode } from "../../domain/slack-link-code.ts";
import { ApiError, invalidField } from "../../lib/errors.ts";
import type { ServiceContext } from "../context.ts";
import { DECIDING_ROLES, type SlackLinkSummary, slackIdOrRefuse, toSlackLinkSummary } from "./admin.ts";

const keys = new WeakMap<object, Promise<CryptoKey>>();

/** The link-code key, derived from WEBHOOK_ENCRYPTION_KEY once per configuration. */
function keyOf(ctx: ServiceContext): Promise<CryptoKey> {
  const master = ctx.config.WEBHOOK_ENCRYPTION_KEY;
  if (!master)
    throw new ApiError("internal_error", "WEBHOOK_ENCRYPTION_KEY is not set: link codes cannot be signed");
  let key = keys.get(ctx.config);
  if (!key) {
    key = slackLinkCodeKey(master);
    keys.set(ctx.config, key);
  }
  return key;
}

/** The tenant of a console form, canonical and within the principal's key, with its workspace. */
async function tenantWorkspace(ctx: ServiceContext, principal: Principal, rawTenantId: string) {
  const tenant = canonicalId(rawTenantId || principal.tenantId || "");
  if (!tenant.ok) throw invalidField("tenant_id", tenant.reason);
  if (!inTenantScope(principal, tenant.value)) {
    throw new ApiError("forbidden", `This key may not act for tenant ${tenant.value}`);
  }
  const workspace = await findSlackWorkspace(ctx.db, tenant.value);
  if (!workspace) throw new ApiError("not_found", `Tenant ${tenant.value} has no Slack workspace connected`);
  return workspace;
}

export interface IssuedSlackLinkCode {
  code: string;
  tenant_id: string;
  team_id: string;
  expires_at: string;
}

/**
 * A link code for the signed-in `principal` in a tenant its key decides for (its own tenant when the key
 * is scoped and none is named). Only deciding keys get one: a link lets its Slack account decide.
 */
export async function issueSlackLinkCode(
  ctx: ServiceContext,
  principal: Principal,
  rawTenantId: string,
): Promise<IssuedSlackLinkCode> {
  if (!can(principal, "requests:decide")) {
    throw new ApiError("forbidden", "Only a key that decides requests can link a Slack account");
  }
  const workspace = await tenantWorkspace(ctx, principal, rawTenantId);
  const { code, claims } = await mintSlackLinkCode(await keyOf(ctx), {
    tenantId: workspace.tenantId,
    principalId: principal.principalId,
  });
  // The code is a credential for ten minutes: logged by its jti only.
  ctx.log.info("slack_link_code_issued", {
    tenant_id: workspace.tenantId,
    principal_id: principal.principalId,
    jti: claims.jti,
  });
  return {
    code,
    tenant_id: workspace.tenantId,
    team_id: workspace.teamId,
    expires_at: claims.expiresAt.toISOString(),
  };
}

/** Why a code links nothing; the slash command answers each in words (SLACK_LINK_REFUSALS). */
export type SlackLinkRefusal =
  | "malformed"
  | "forged"
  | "expired"
  | "other_tenant"
  | "no_workspace"
  | "no_deciding_key"
  | "used"
  | "linked_to_other";

/** What a refusal says to the person in Slack: nothing about another tenant or principal. */
export const SLACK_LINK_REFUSALS: Record<SlackLinkRefusal, string> = {
  malformed: "That is not a link code: copy it again from the console's Slack page.",
  forged: "That link code is not valid: ask your console for a new one.",
  expired: "That link code has expired (codes last 10 minutes): ask your console for a new one.",
  other_tenant: "That link code is for another workspace: ask the console for this one's.",
  no_workspace: "This Slack workspace is not connected to the Policy API.",
  no_deciding_key: "The principal of that code no longer holds a key that decides here: ask an admin.",
  used: "That link code has been used already: ask your console for a new one.",
  linked_to_other: "Your Slack account is linked to someone else: an admin must unlink it first.",
};

export type SlackLinkRedeemed =
  | { linked: true; principalId: string; link: SlackLinkSummary; created: boolean }
  | { linked: false; reason: SlackLinkRefusal; message: string };

/**
 * Redeems a link code typed in Slack by `slackUserId` of `teamId`, for `tenantId` (the workspace the
 * slash command came from, its signature checked by the caller). Links the Slack user to the code's
 * principal (method console, audited as slack.link.redeem) when the code is genuine, unexpired, for
 * this tenant and its team, never redeemed before, and its principal still holds a deciding key over
 * the tenant. Answers the principal linked, or the refusal's reason and words; never throws for a bad
 * code. A Slack user already linked to the code's principal stays linked (the code is not spent).
 */
export async function redeemSlackLinkCode(
  ctx: ServiceContext,
  asked: { tenantId: string; teamId: string; slackUserId: string; code: string },
): Promise<SlackLinkRedeemed> {
  const refuse = (reason: SlackLinkRefusal): SlackLinkRedeemed => {
    ctx.log.warn("slack_link_code_refused", { tenant_id: asked.tenantId, team_id: asked.teamId, reason });
    return { linked: false, reason, message: SLACK_LINK_REFUSALS[reason] };
  };
  const verified = await verifySlackLinkCode(await keyOf(ctx), asked.code);
  if ("refused" in verified) return refuse(verified.refused);
  const { claims } = verified;
  const tenant = canonicalId(asked.tenantId);
  const team = canonicalSlackId("team", asked.teamId);
  const user = canonicalSlackId("user", asked.slackUserId);
  if (!tenant.ok || !team.ok || !user.ok) return refuse("malformed");
  if (claims.tenantId !== tenant.value) return refuse("other_tenant");
  const workspace = await findSlackWorkspace(ctx.db, tenant.value);
  if (!workspace || workspace.teamId !== team.value) return refuse("no_workspace");
  const level = await decidingLevelOver(ctx.db, claims.principalId, tenant.value, DECIDING_ROLES);
  if (level === undefined) return refuse("no_deciding_key");
  const written = await insertSlackLink(
    ctx.db,
    {
      tenantId: tenant.value,
      teamId: team.value,
      slackUserId: user.value,
      principalId: claims.principalId,
      method: "console",
      codeJti: claims.jti,
    },
    // The principal proved it in its console; the Slack account by typing the code.
    { principalId: claims.principalId, keyId: "slack-link-code", requestId: ctx.requestId },
  );
  switch (written.outcome) {
    case "no_workspace":
      return refuse("no_workspace");
    case "code_used":
      return refuse("used");
    case "exists":
      if (written.row.principalId !== claims.principalId) return refuse("linked_to_other");
      return {
        linked: true,
        principalId: claims.principalId,
        link: toSlackLinkSummary(tenant.value, written.row),
        created: false,
      };
    case "linked":
      ctx.log.info("slack_user_linked", {
        tenant_id: tenant.value,
        team_id: team.value,
        slack_user_id: user.value,
        principal_id: claims.principalId,
        method: "console",
        jti: claims.jti,
      });
      return {
        linked: true,
        principalId: claims.principalId,
        link: toSlackLinkSummary(tenant.value, written.row),
        created: true,
      };
  }
}

/** The signed-in principal's own links in a tenant's workspace (the console's Slack page). */
export async function ownSlackLinks(
  ctx: ServiceContext,
  principal: Principal,
  rawTenantId: string,
): Promise<{ tenantId: string; teamId: string; links: SlackLinkSummary[] }> {
  const workspace = await tenantWorkspace(ctx, principal, rawTenantId);
  const rows = await listSlackLinkRows(
    ctx.db,
    workspace.teamId,
    { principalId: principal.principalId },
    { limit: 100, offset: 0 },
  );
  return {
    tenantId: workspace.tenantId,
    teamId: workspace.teamId,
    links: rows.map((row) => toSlackLinkSummary(workspace.tenantId, row)),
  };
}

/** The signed-in principal removes one of its own links (audited); another's is "not linked". */
export async function unlinkOwnSlackUser(
  ctx: ServiceContext,
  principal: Principal,
  rawTenantId: string,
  rawSlackUserId: string,
): Promise<SlackLinkSummary> {
  const workspace = await tenantWorkspace(ctx, principal, rawTenantId);
  const slackUserId = slackIdOrRefuse("user", "slack_user_id", rawSlackUserId);
  const gone = await deleteSlackLink(
    ctx.db,
    {
      tenantId: workspace.tenantId,
      teamId: workspace.teamId,
      slackUserId,
      principalId: principal.principalId,
    },
    { principalId: principal.principalId, keyId: principal.keyId, requestId: ctx.requestId },
  );
  if (!gone)
    throw new ApiError("not_found", `Slack user ${slackUserId} is not linked to you in this workspace`);
  return toSlackLinkSummary(workspace.tenantId, gone);
}
