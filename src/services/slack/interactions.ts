// Slack interactions as use cases (issue 26): admitting a request Slack signed (the workspace, its
// signature, its team, a replay receipt), then a click on Approve or Reject, the reject modal's reason,
// and the /policy command. Every decision goes through decideRequest as the linked principal
// (identity.ts), so self-approval, levels, tenants and quorum apply exactly as on the API. The answer
// to the person is an ephemeral message on the interaction's response_url; refusals are logged
// (slack_action_refused) and counted (nova_slack_actions_total{outcome}). A decision's approval entry
// carries `via: "slack"`, so the request, its audit chain record and the log lines all say so.

import { recordSlackReceipt } from "../../db/slack-interactions.ts";
import type { Principal } from "../../domain/access.ts";
import { type ActionEffect, actionEffect, isOpen } from "../../domain/approvals.ts";
import { sha256Hex } from "../../domain/encoding.ts";
import { REQUEST_ID_PATTERN } from "../../domain/ids.ts";
import { canonicalId, textProblem } from "../../domain/limits.ts";
import {
  MAX_REJECT_REASON_CHARS,
  REJECT_MODAL,
  type SlackActionRefusal,
  type SlackDecisionAction,
  slackEffectText,
  slackErrorText,
  slackRefusalText,
} from "../../domain/slack-actions.ts";
import {
  type SlackSignatureRefusal,
  type SlackSignedRequest,
  slackSignatureRefusal,
} from "../../domain/slack-signature.ts";
import { escapeMrkdwn } from "../../domain/slack-text.ts";
import { ApiError } from "../../lib/errors.ts";
import { type ModalView, openSlackView } from "../../lib/slack-views.ts";
import { decideRequest, getRequest } from "../approval-requests.ts";
import type { ServiceContext } from "../context.ts";
import { slackPrincipal } from "./identity.ts";
import { loadSlackWorkspace, type OpenedSlackWorkspace } from "./workspace.ts";

/** How long a receipt is kept: past the five minutes a signature's timestamp is accepted, either way. */
export const SLACK_RECEIPT_TTL_MS = 10 * 60 * 1000;

export type SlackRequestRefusal =
  | "unknown_tenant"
  | "no_workspace"
  | SlackSignatureRefusal
  | "team_mismatch"
  | "replay";

/** The tenant's workspace when `signed` is Slack's for it; otherwise why not (logged by the caller, never shown). */
export async function openSlackRequest(
  ctx: ServiceContext,
  rawTenantId: string,
  signed: SlackSignedRequest,
): Promise<{ workspace: OpenedSlackWorkspace } | { refused: SlackRequestRefusal }> {
  const tenant = canonicalId(rawTenantId);
  if (!tenant.ok) return { refused: "unknown_tenant" };
  const workspace = await loadSlackWorkspace(ctx, tenant.value);
  if (!workspace) return { refused: "no_workspace" };
  const refused = await slackSignatureRefusal(signed, workspace.signingSecret, Date.now());
  return refused ? { refused } : { workspace };
}

/**
 * After the body is parsed: the team must be the workspace's, and the signature never seen before (a
 * receipt by its hash, kept SLACK_RECEIPT_TTL_MS). Null when admitted.
 */
export async function admitSlackRequest(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  request: { teamId: string | undefined; signature: string },
): Promise<SlackRequestRefusal | null> {
  if (request.teamId !== workspace.teamId) return "team_mismatch";
  const fresh = await recordSlackReceipt(ctx.db, {
    signatureHash: await sha256Hex(request.signature),
    tenantId: workspace.tenantId,
    expiresAt: new Date(Date.now() + SLACK_RECEIPT_TTL_MS),
  });
  return fresh ? null : "replay";
}

/** Who clicked or typed, in which workspace, and where the answer to them goes. */
export interface SlackActor {
  teamId: string;
  slackUserId: string;
  responseUrl: string | undefined;
}

/**
 * Whether `url` may receive an answer: Slack's hooks host, or the configured API base's origin (a
 * test's fake Slack). A response_url comes in a signed payload, so this is defence in depth: the
 * worker never posts interaction answers anywhere else.
 */
export function responseUrlAllowed(url: string, apiBaseUrl: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol === "https:" && parsed.hostname === "hooks.slack.com") return true;
  return parsed.origin === new URL(apiBaseUrl).origin;
}

/** Posts an ephemeral message on the response_url: seen by the person who acted, never by the channel. */
export async function slackReply(ctx: ServiceContext, actor: SlackActor, text: string): Promise<void> {
  if (!actor.responseUrl || !responseUrlAllowed(actor.responseUrl, ctx.config.SLACK_API_BASE_URL)) {
    ctx.log.warn("slack_reply_skipped", { reason: "no usable response_url", team_id: actor.teamId });
    return;
  }
  try {
    const res = await fetch(actor.responseUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ response_type: "ephemeral", replace_original: false, text }),
      // Never followed elsewhere: the answer goes to the URL checked above or nowhere.
      redirect: "manual",
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    if (!res.ok) ctx.log.warn("slack_reply_failed", { status: res.status, team_id: actor.teamId });
  } catch (error) {
    ctx.log.warn("slack_reply_failed", { error: error instanceof Error ? error.name : "unknown" });
  }
}

function count(ctx: ServiceContext, outcome: string): void {
  ctx.metrics.count("nova_slack_actions_total", { outcome });
}

async function refuse(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  actor: SlackActor,
  refusal: {
    reason: SlackActionRefusal;
    requestId?: string | undefined;
    facts?: Parameters<typeof slackRefusalText>[1];
  },
): Promise<void> {
  ctx.log.warn("slack_action_refused", {
    via: "slack",
    reason: refusal.reason,
    tenant_id: workspace.tenantId,
    team_id: actor.teamId,
    slack_user_id: actor.slackUserId,
    request_id: refusal.requestId,
  });
  count(ctx, "refused");
  await slackReply(ctx, actor, slackRefusalText(refusal.reason, refusal.facts));
}

type Gate =
  | { principal: Principal; requestId: string; open: boolean; status: string; payloadHash: string }
  | { reason: SlackActionRefusal; requestId?: string; facts?: Parameters<typeof slackRefusalText>[1] };

/**
 * Who may act on which request from Slack: a linked principal with a deciding key over the tenant, a
 * request of this workspace's tenant (another tenant's is "no such request", whatever the key covers),
 * needing no more than the workspace decides from Slack and no more than the key's level.
 */
async function gate(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  actor: SlackActor,
  rawRequestId: string,
): Promise<Gate> {
  const id = canonicalId(rawRequestId);
  if (!id.ok || !REQUEST_ID_PATTERN.test(id.value)) return { reason: "unknown_request" };
  const requestId = id.value;
  const identity = await slackPrincipal(ctx, {
    tenantId: workspace.tenantId,
    teamId: actor.teamId,
    slackUserId: actor.slackUserId,
  });
  if ("refused" in identity) return { reason: identity.refused, requestId };
  const { principal } = identity;
  let row: Awaited<ReturnType<typeof getRequest>>;
  try {
    row = await getRequest(ctx, principal, requestId);
  } catch (error) {
    if (error instanceof ApiError && error.code === "not_found")
      return { reason: "unknown_request", requestId };
    throw error;
  }
  if (row.tenantId !== workspace.tenantId) return { reason: "unknown_request", requestId };
  const facts = {
    requiredLevel: row.requiredLevel,
    keyLevel: principal.maxLevel,
    maxDecideLevel: workspace.maxDecideLevel,
  };
  if (row.requiredLevel > workspace.maxDecideLevel) return { reason: "above_slack_level", requestId, facts };
  if (principal.maxLevel < row.requiredLevel) return { reason: "under_level", requestId, facts };
  return { principal, requestId, open: isOpen(row.status), status: row.status, payloadHash: row.payloadHash };
}

/** Decides through the one approval service and tells the person what it did (or why it did nothing). */
async function decide(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  actor: SlackActor,
  decider: { principal: Principal; requestId: string; payloadHash: string },
  action: SlackDecisionAction,
  notes: string | null,
): Promise<void> {
  const fields = {
    via: "slack",
    action,
    tenant_id: workspace.tenantId,
    request_id: decider.requestId,
    principal_id: decider.principal.principalId,
    key_id: decider.principal.keyId,
    slack_user_id: actor.slackUserId,
  };
  let effect: ActionEffect;
  try {
    const row = await decideRequest(ctx, decider.principal, decider.requestId, action, {
      notes,
      via: "slack",
      // Slack's card shows the filed payload: an approve there approves only that one. Once an approver
      // changed it (issue 27), approving the change is for the console or the API (409 here).
      expectedPayloadSha256: action === "approve" ? decider.payloadHash : undefined,
    });
    effect = actionEffect({ ...row, approvals: row.approvalsJson }, decider.principal.principalId);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status >= 500) throw error;
    // 409 already decided, 403 self-approval…: the service's own words, quoted.
    ctx.log.warn("slack_action_not_recorded", { ...fields, code: error.code });
    count(ctx, error.code);
    await slackReply(ctx, actor, slackErrorText(decider.requestId, error.message));
    return;
  }
  ctx.log.info("slack_action", { ...fields, effect: effect.effect, status: effect.status });
  count(ctx, effect.effect);
  await slackReply(ctx, actor, slackEffectText(decider.requestId, effect, action));
}

/** The reject modal: a required reason; the metadata says which request and where the outcome goes. */
export function rejectModal(requestId: string, responseUrl: string): ModalView {
  return {
    type: "modal",
    callback_id: REJECT_MODAL.callbackId,
    private_metadata: JSON.stringify({ request_id: requestId, response_url: responseUrl }),
    title: { type: "plain_text", text: "Reject request" },
    submit: { type: "plain_text", text: "Reject" },
    close: { type: "plain_text", text: "Cancel" },
    blocks: [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: `Rejecting \`${escapeMrkdwn(requestId)}\`. The requester sees your reason.`,
        },
      },
      {
        type: "input",
        block_id: REJECT_MODAL.blockId,
        label: { type: "plain_text", text: "Reason" },
        element: {
          type: "plain_text_input",
          action_id: REJECT_MODAL.actionId,
          multiline: true,
          max_length: MAX_REJECT_REASON_CHARS,
        },
      },
    ],
  };
}

/**
 * A click on Approve (decides at once) or Reject (opens the reason modal, after the same checks, so a
 * user who may not decide never sees it). Runs after Slack has its 200.
 */
export async function onDecisionClick(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  click: { actor: SlackActor; action: SlackDecisionAction; value: string; triggerId: string | undefined },
): Promise<void> {
  const decider = await gate(ctx, workspace, click.actor, click.value);
  if ("reason" in decider) return refuse(ctx, workspace, click.actor, decider);
  if (click.action === "approve") return decide(ctx, workspace, click.actor, decider, "approve", null);
  if (!decider.open) {
    count(ctx, "conflict");
    return slackReply(
      ctx,
      click.actor,
      slackErrorText(decider.requestId, `The request is already ${decider.status}`),
    );
  }
  if (!click.triggerId || !click.actor.responseUrl) {
    count(ctx, "failed");
    ctx.log.warn("slack_reject_modal_failed", {
      reason: "no trigger_id or response_url",
      tenant_id: workspace.tenantId,
    });
    return;
  }
  const opened = await openSlackView(
    { botToken: workspace.botToken, baseUrl: ctx.config.SLACK_API_BASE_URL },
    click.triggerId,
    rejectModal(decider.requestId, click.actor.responseUrl),
  );
  if (!opened.ok) {
    count(ctx, "failed");
    ctx.log.warn("slack_reject_modal_failed", { error: opened.error, tenant_id: workspace.tenantId });
    return slackReply(
      ctx,
      click.actor,
      "Could not open the rejection form; try again, or reject in the console.",
    );
  }
  count(ctx, "modal_opened");
}

/** What is wrong with a typed reject reason (answered in the modal itself), or null. */
export function rejectReasonProblem(reason: string | null | undefined): string | null {
  const text = reason?.trim() ?? "";
  if (text === "") return "Say why you reject the request: the requester sees this reason.";
  if (Array.from(text).length > MAX_REJECT_REASON_CHARS)
    return `At most ${MAX_REJECT_REASON_CHARS} characters.`;
  const problem = textProblem(text);
  return problem ? `The reason ${problem}.` : null;
}

/** The reject modal submitted with a valid reason: the same checks again (links and keys may have changed), then reject. */
export async function onRejectReason(
  ctx: ServiceContext,
  workspace: OpenedSlackWorkspace,
  submission: { actor: SlackActor; requestId: string; reason: string },
): Promise<void> {
  const decider = await gate(ctx, workspace, submission.actor, submission.requestId);
  if ("reason" in decider) return refuse(ctx, workspace, submission.actor, decider);
  return decide(ctx, workspace, submission.actor, decider, "reject", submission.reason.trim());
}
