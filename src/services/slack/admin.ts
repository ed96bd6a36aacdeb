// Slack administration as operations (issue 26), for admin keys (directory:manage; a tenant-scoped key
// confined to its tenant): a tenant's workspace connected or replaced (bot token and signing secret
// sealed with WEBHOOK_ENCRYPTION_KEY, never answered), read, listed, disconnected (its team's links go
// with it); and the links an admin maps between Slack users and principals. Each change is audited by
// its statement (src/db/slack-admin.ts).

import type { SlackUserLinkRow, SlackWorkspaceRow } from "../../db/schema.ts";
import { findSlackWorkspace } from "../../db/slack.ts";
import {
  decidingLevelOver,
  deleteSlackLink,
  deleteSlackWorkspace,
  insertSlackLink,
  listSlackLinkRows,
  listSlackWorkspaceRows,
  writeSlackWorkspace,
} from "../../db/slack-admin.ts";
import { type Principal, rolesWith } from "../../domain/access.ts";
import { canonicalId } from "../../domain/limits.ts";
import { canonicalSlackId, DEFAULT_MAX_DECIDE_LEVEL, type SlackIdKind } from "../../domain/slack-ids.ts";
import type { SlackRoute } from "../../domain/slack-routing.ts";
import { ApiError, invalidField } from "../../lib/errors.ts";
import { encryptSecret, importEncryptionKey } from "../../lib/secrets.ts";
import type { ServiceContext } from "../context.ts";
import { checkSlackBotToken, type SlackTokenCheck } from "./verify-token.ts";

/** A workspace as answers show it: whether the secrets are set, never them. */
export interface SlackWorkspaceSummary {
  tenant_id: string;
  team_id: string;
  default_channel: string;
  routes: SlackRoute[];
  max_decide_level: number;
  has_bot_token: boolean;
  has_signing_secret: boolean;
  created_by: string;
  created_at: string;
  updated_by: string;
  updated_at: string;
}

export function toSlackWorkspaceSummary(row: SlackWorkspaceRow): SlackWorkspaceSummary {
  return {
    tenant_id: row.tenantId,
    team_id: row.teamId,
    default_channel: row.defaultChannel,
    routes: row.routes,
    max_decide_level: row.maxDecideLevel,
    has_bot_token: row.botTokenEncrypted.length > 0,
    has_signing_secret: row.signingSecretEncrypted.length > 0,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_by: row.updatedBy,
    updated_at: row.updatedAt.toISOString(),
  };
}

export interface SlackLinkSummary {
  tenant_id: string;
  team_id: string;
  slack_user_id: string;
  principal_id: string;
  method: "admin" | "console";
  linked_by: string;
  created_at: string;
}

export function toSlackLinkSummary(tenantId: string, row: SlackUserLinkRow): SlackLinkSummary {
  return {
    tenant_id: tenantId,
    team_id: row.teamId,
    slack_user_id: row.slackUserId,
    principal_id: row.principalId,
    method: row.method === "console" ? "console" : "admin",
    linked_by: row.linkedBy,
    created_at: row.createdAt.toISOString(),
  };
}

/** A workspace as asked for; the wire schema checked the shapes, the ids are folded again here. */
export interface SlackWorkspaceCommand {
  teamId: string;
  botToken?: string | undefined;
  signingSecret?: string | undefined;
  defaultChannel: string;
  routes?: SlackRoute[] | undefined;
  maxDecideLevel?: number | undefined;
}

/** A Slack id of `kind` in its canonical form, or a 400 naming `field`. */
export function slackIdOrRefuse(kind: SlackIdKind, field: string, raw: string): string {
  const id = canonicalSlackId(kind, raw);
  if (!id.ok) throw invalidField(field, id.reason);
  return id.value;
}

/** A tenant id in its canonical form, or a 400. */
export function tenantIdOrRefuse(raw: string): string {
  const id = canonicalId(raw);
  if (!id.ok) throw invalidField("tenant_id", id.reason);
  return id.value;
}

/** A scoped admin key manages only its own tenant's workspace and links: refused before any read. */
export function assertSlackTenant(actor: Principal, tenantId: string): void {
  if (actor.tenantId !== null && actor.tenantId !== tenantId) {
    throw new ApiError(
      "forbidden",
      `This key may only manage the Slack workspace of tenant ${actor.tenantId}`,
    );
  }
}

const actorOf = (ctx: ServiceContext, actor: Principal) => ({
  principalId: actor.principalId,
  keyId: actor.keyId,
  requestId: ctx.requestId,
});

async function sealingKey(ctx: ServiceContext): Promise<CryptoKey> {
  const key = await importEncryptionKey(ctx.config.WEBHOOK_ENCRYPTION_KEY);
  if (!key) {
    ctx.log.error("webhook_encryption_key_invalid", { reason: "WEBHOOK_ENCRYPTION_KEY is not set" });
    throw new ApiError("internal_error", "This deployment cannot store Slack credentials; try again later");
  }
  return key;
}

/** What a connect answers: the workspace, whether it is new, and Slack's word on a new token. */
export interface SlackWorkspaceConnected {
  workspace: SlackWorkspaceSummary;
  created: boolean;
  /** auth.test's answer when a bot token was given (and so checked); absent otherwise. */
  tokenCheck?: SlackTokenCheck;
}

/**
 * Connects (created: true) or replaces the tenant's workspace. On a replace an omitted secret keeps the
 * stored one; a first connection needs both. A team another tenant holds is a 409. A new bot token is
 * checked with Slack (auth.test) before anything is stored: refused, or of another team, it is a 400;
 * Slack unreachable is a 503. Moving the workspace to another team needs that team's token.
 */
export async function connectSlackWorkspace(
  ctx: ServiceContext,
  actor: Principal,
  rawTenantId: string,
  command: SlackWorkspaceCommand,
): Promise<SlackWorkspaceConnected> {
  const tenantId = tenantIdOrRefuse(rawTenantId);
  assertSlackTenant(actor, tenantId);
  const teamId = slackIdOrRefuse("team", "team_id", command.teamId);
  const defaultChannel = slackIdOrRefuse("channel", "default_channel", command.defaultChannel);
  const key = await sealingKey(ctx);
  let tokenCheck: SlackTokenCheck | undefined;
  if (command.botToken === undefined) {
    // The stored token was checked for the stored team: another team needs its own token.
    const stored = await findSlackWorkspace(ctx.db, tenantId);
    if (stored && stored.teamId !== teamId) {
      throw invalidField(
        "bot_token",
        `moving the workspace from team ${stored.teamId} to ${teamId} needs ${teamId}'s bot token`,
      );
    }
  } else {
    tokenCheck = await checkSlackBotToken(ctx, command.botToken, teamId);
  }
  const written = await writeSlackWorkspace(
    ctx.db,
    {
      tenantId,
      teamId,
      botTokenEncrypted: command.botToken === undefined ? null : await encryptSecret(command.botToken, key),
      signingSecretEncrypted:
        command.signingSecret === undefined ? null : await encryptSecret(command.signingSecret, key),
      defaultChannel,
      routes: command.routes ?? [],
      maxDecideLevel: command.maxDecideLevel ?? DEFAULT_MAX_DECIDE_LEVEL,
    },
    actorOf(ctx, actor),
  );
  if (written.outcome === "team_taken") {
    throw new ApiError(
      "conflict",
      `Slack team ${teamId} is connected to another tenant: disconnect it there first`,
    );
  }
  if (written.outcome === "secrets_missing") {
    const field = command.botToken === undefined ? "bot_token" : "signing_secret";
    throw invalidField(
      field,
      "required to connect a workspace (it may be omitted only to keep the stored one)",
    );
  }
  ctx.log.info(written.outcome === "created" ? "slack_workspace_connected" : "slack_workspace_updated", {
    tenant_id: tenantId,
    team_id: teamId,
    links_removed: written.linksRemoved,
    token_checked: tokenCheck !== undefined,
    ...(tokenCheck?.bot_user_id ? { bot_user_id: tokenCheck.bot_user_id } : {}),
  });
  return {
    workspace: toSlackWorkspaceSummary(written.row),
    created: written.outcome === "created",
    ...(tokenCheck ? { tokenCheck } : {}),
  };
}

/** The tenant's workspace row, or a 404. */
async function workspaceOf(ctx: ServiceContext, actor: Principal, rawTenantId: string) {
  const tenantId = tenantIdOrRefuse(rawTenantId);
  assertSlackTenant(actor, tenantId);
  const row = await findSlackWorkspace(ctx.db, tenantId);
  if (!row) throw new ApiError("not_found", `Tenant ${tenantId} has no Slack workspace connected`);
  return row;
}

export async function getSlackWorkspace(
  ctx: ServiceContext,
  actor: Principal,
  tenantId: string,
): Promise<SlackWorkspaceSummary> {
  return toSlackWorkspaceSummary(await workspaceOf(ctx, actor, tenantId));
}

export async function listSlackWorkspaces(
  ctx: ServiceContext,
  actor: Principal,
  page: { limit: number; offset: number },
): Promise<SlackWorkspaceSummary[]> {
  return (await listSlackWorkspaceRows(ctx.db, actor.tenantId, page)).map(toSlackWorkspaceSummary);
}

/** Disconnects the tenant's workspace; its team's links are removed with it (links_removed says how many). */
export async function disconnectSlackWorkspace(
  ctx: ServiceContext,
  actor: Principal,
  rawTenantId: string,
): Promise<SlackWorkspaceSummary & { links_removed: number }> {
  const tenantId = tenantIdOrRefuse(rawTenantId);
  assertSlackTenant(actor, tenantId);
  const gone = await deleteSlackWorkspace(ctx.db, tenantId, actorOf(ctx, actor));
  if (!gone) throw new ApiError("not_found", `Tenant ${tenantId} has no Slack workspace connected`);
  ctx.log.info("slack_workspace_disconnected", {
    tenant_id: tenantId,
    team_id: gone.row.teamId,
    links_removed: gone.linksRemoved,
  });
  return { ...toSlackWorkspaceSummary(gone.row), links_removed: gone.linksRemoved };
}

/** The roles that decide requests: a link is worth only what its principal's deciding keys are. */
export const DECIDING_ROLES = rolesWith("requests:decide");

/**
 * An admin's mapping of a Slack user to a principal (method admin). The principal must hold a live
 * deciding key covering the tenant (else a 400 naming principal_id). A Slack user linked to another
 * principal is a 409 (unlink first); linked to this one already, the link as it is (created: false).
 * No admin links a principal deciding above its own level over the tenant: that would let it act, from
 * Slack, above what it may grant.
 */
export async function linkSlackUser(
  ctx: ServiceContext,
  actor: Principal,
  rawTenantId: string,
  asked: { slackUserId: string; principalId: string },
): Promise<{ link: SlackLinkSummary; created: boolean }> {
  const workspace = await workspaceOf(ctx, actor, rawTenantId);
  const slackUserId = slackIdOrRefuse("user", "slack_user_id", asked.slackUserId);
  const principal = canonicalId(asked.principalId);
  if (!principal.ok) throw invalidField("principal_id", principal.reason);
  const level = await decidingLevelOver(ctx.db, principal.value, workspace.tenantId, DECIDING_ROLES);
  if (level === undefined) {
    // Such a link would decide nothing today, but would come alive, never checked against this admin's
    // level, the day the principal gets a deciding key: so an unknown principal, one of another tenant
    // only, or one without a deciding key is refused, as a link code's redeem refuses it (no_deciding_key).
    throw invalidField(
      "principal_id",
      `${principal.value} holds no live approver or admin key covering tenant ${workspace.tenantId}: only a principal that decides its requests can be linked`,
    );
  }
  if (level > actor.maxLevel) {
    throw new ApiError(
      "forbidden",
      `Principal ${principal.value} decides at level ${level}, above your own level (${actor.maxLevel}): a key of level ${level} or more must link it`,
    );
  }
  const written = await insertSlackLink(
    ctx.db,
    {
      tenantId: workspace.tenantId,
      teamId: workspace.teamId,
      slackUserId,
      principalId: principal.value,
      method: "admin",
    },
    actorOf(ctx, actor),
  );
  if (written.outcome === "no_workspace" || written.outcome === "code_used") {
    // The workspace was disconnected or moved to another team between the read and the write.
    throw new ApiError("conflict", "The Slack workspace changed meanwhile: try again");
  }
  if (written.outcome === "exists" && written.row.principalId !== principal.value) {
    throw new ApiError(
      "conflict",
      `Slack user ${slackUserId} is linked to another principal (${written.row.principalId}): unlink it first`,
    );
  }
  if (written.outcome === "linked") {
    ctx.log.info("slack_user_linked", {
      tenant_id: workspace.tenantId,
      team_id: workspace.teamId,
      slack_user_id: slackUserId,
      principal_id: principal.value,
      method: "admin",
    });
  }
  return { link: toSlackLinkSummary(workspace.tenantId, written.row), created: written.outcome === "linked" };
}

export async function listSlackLinks(
  ctx: ServiceContext,
  actor: Principal,
  rawTenantId: string,
  filter: { principalId?: string | undefined },
  page: { limit: number; offset: number },
): Promise<SlackLinkSummary[]> {
  const workspace = await workspaceOf(ctx, actor, rawTenantId);
  const rows = await listSlackLinkRows(ctx.db, workspace.teamId, filter, page);
  return rows.map((row) => toSlackLinkSummary(workspace.tenantId, row));
}

/** Removes a link (audited); answers it as it was. */
export async function unlinkSlackUser(
  ctx: ServiceContext,
  actor: Principal,
  rawTenantId: string,
  rawSlackUserId: string,
): Promise<SlackLinkSummary> {
  const workspace = await workspaceOf(ctx, actor, rawTenantId);
  const slackUserId = slackIdOrRefuse("user", "slack_user_id", rawSlackUserId);
  const gone = await deleteSlackLink(
    ctx.db,
    { tenantId: workspace.tenantId, teamId: workspace.teamId, slackUserId },
    actorOf(ctx, actor),
  );
  if (!gone) throw new ApiError("not_found", `Slack user ${slackUserId} is not linked in this workspace`);
  ctx.log.info("slack_user_unlinked", {
    tenant_id: workspace.tenantId,
    team_id: workspace.teamId,
    slack_user_id: slackUserId,
  });
  return toSlackLinkSummary(workspace.tenantId, gone);
}
