// Slack's requests to the integration (issue 26): POST /integrations/slack/{tenant_id}/interactions
// (buttons and the reject modal) and …/commands (/policy). No API key: Slack's signature over the raw
// body, with the tenant's signing secret, is the authentication (src/domain/slack-signature.ts), then
// the team and a replay receipt (src/services/slack/interactions.ts). Every refusal is one 401 without
// detail, logged with its reason. Slack wants an answer within 3 s: the work runs in waitUntil after
// an empty 200, except the reject modal's reason check, which Slack shows in the modal itself.
import { type Context, Hono } from "hono";
import { jsonInputProblem } from "../domain/limits.ts";
import { isSlackDecisionAction, REJECT_MODAL } from "../domain/slack-actions.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../lib/errors.ts";
import {
  payloadTeamId,
  RejectModalMetadata,
  SlackCommandForm,
  SlackInteractionPayload,
} from "../schemas/slack-payloads.ts";
import { type LinkRedeemer, onSlackCommand } from "../services/slack/commands.ts";
import {
  admitSlackRequest,
  onDecisionClick,
  onRejectReason,
  openSlackRequest,
  rejectReasonProblem,
  type SlackRequestRefusal,
} from "../services/slack/interactions.ts";
import { redeemSlackLinkCode } from "../services/slack/link-codes.ts";
import type { OpenedSlackWorkspace } from "../services/slack/workspace.ts";

/** Slack's interaction payloads carry the message's blocks; 64 KiB holds the largest this service posts. */
export const MAX_SLACK_BODY_BYTES = 64 * 1024;

/** `/policy link <code>`: redeems a console link code (services/slack/link-codes.ts) for the Slack user. */
const redeemLinkCode: LinkRedeemer = async (ctx, input) => {
  const redeemed = await redeemSlackLinkCode(ctx, input);
  return redeemed.linked ? { principalId: redeemed.principalId } : { refused: redeemed.message };
};

function unverified(c: Context<AppEnv>, reason: SlackRequestRefusal): never {
  c.var.log.warn("slack_request_refused", { reason, path: c.req.path });
  c.var.metrics.count("nova_slack_actions_total", { outcome: "unverified" });
  throw new ApiError("unauthorized", "This request is not a verified Slack request for this integration");
}

/** The verified workspace and the form Slack posted; any refusal throws its 401. */
async function verifiedForm(
  c: Context<AppEnv>,
): Promise<{ workspace: OpenedSlackWorkspace; form: URLSearchParams; signature: string }> {
  const mediaType = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/x-www-form-urlencoded") {
    throw new ApiError("unsupported_media_type", "Slack posts application/x-www-form-urlencoded bodies");
  }
  if (Number(c.req.header("Content-Length") ?? 0) > MAX_SLACK_BODY_BYTES) tooLarge();
  // Bytes, not c.req.text(): workerd warns on text() of a form body; the signature covers these bytes.
  const bytes = await c.req.arrayBuffer();
  if (bytes.byteLength > MAX_SLACK_BODY_BYTES) tooLarge();
  const rawBody = new TextDecoder().decode(bytes);
  const signature = c.req.header("X-Slack-Signature");
  const opened = await openSlackRequest(c.var.services, c.req.param("tenant_id") ?? "", {
    signature,
    timestamp: c.req.header("X-Slack-Request-Timestamp"),
    rawBody,
  });
  if ("refused" in opened) unverified(c, opened.refused);
  // A verified request always carries a well-formed signature.
  return { workspace: opened.workspace, form: new URLSearchParams(rawBody), signature: signature ?? "" };
}

function tooLarge(): never {
  throw new ApiError("payload_too_large", `Request body is larger than ${MAX_SLACK_BODY_BYTES} bytes`);
}

async function admit(
  c: Context<AppEnv>,
  workspace: OpenedSlackWorkspace,
  teamId: string | undefined,
  signature: string,
): Promise<void> {
  const refused = await admitSlackRequest(c.var.services, workspace, { teamId, signature });
  if (refused) unverified(c, refused);
}

/** The work after the 200: failures logged (without values), and this work's counters written. */
function inBackground(c: Context<AppEnv>, work: Promise<void>): void {
  const ctx = c.var.services;
  ctx.waitUntil(
    work
      .catch((error: unknown) => {
        ctx.log.error("slack_interaction_failed", { error });
        ctx.metrics.count("nova_slack_actions_total", { outcome: "failed" });
      })
      .finally(() => ctx.metrics.flush(c.env.METRICS, ctx.log)),
  );
}

function parsePayload(text: string | null): SlackInteractionPayload | undefined {
  if (text === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (jsonInputProblem(value)) return undefined;
  const parsed = SlackInteractionPayload.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

function parseMetadata(text: string | undefined): RejectModalMetadata | undefined {
  try {
    const parsed = RejectModalMetadata.safeParse(JSON.parse(text ?? ""));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export const slackRoutes = new Hono<AppEnv>();

slackRoutes.post("/integrations/slack/:tenant_id/interactions", async (c) => {
  const { workspace, form, signature } = await verifiedForm(c);
  const payload = parsePayload(form.get("payload"));
  // Interactions this integration does not handle (other types, other buttons) are acknowledged, unused.
  if (!payload) {
    c.var.log.info("slack_interaction_ignored", { tenant_id: workspace.tenantId });
    return c.body(null, 200);
  }
  await admit(c, workspace, payloadTeamId(payload), signature);
  const actor = { teamId: workspace.teamId, slackUserId: payload.user.id };

  if (payload.type === "block_actions") {
    const action = payload.actions.find((candidate) => isSlackDecisionAction(candidate.action_id));
    if (!action || !isSlackDecisionAction(action.action_id)) return c.body(null, 200);
    inBackground(
      c,
      onDecisionClick(c.var.services, workspace, {
        actor: { ...actor, responseUrl: payload.response_url },
        action: action.action_id,
        value: action.value ?? "",
        triggerId: payload.trigger_id,
      }),
    );
    return c.body(null, 200);
  }

  if (payload.view.callback_id !== REJECT_MODAL.callbackId) return c.body(null, 200);
  const metadata = parseMetadata(payload.view.private_metadata);
  if (!metadata) {
    c.var.log.warn("slack_reject_modal_unreadable", { tenant_id: workspace.tenantId });
    return c.body(null, 200);
  }
  const reason = payload.view.state?.values[REJECT_MODAL.blockId]?.[REJECT_MODAL.actionId]?.value;
  const problem = rejectReasonProblem(reason);
  // Shown under the reason input; the modal stays open.
  if (problem || !reason) {
    return c.json({ response_action: "errors", errors: { [REJECT_MODAL.blockId]: problem ?? "Required" } });
  }
  inBackground(
    c,
    onRejectReason(c.var.services, workspace, {
      actor: { ...actor, responseUrl: metadata.response_url },
      requestId: metadata.request_id,
      reason,
    }),
  );
  return c.body(null, 200);
});

slackRoutes.post("/integrations/slack/:tenant_id/commands", async (c) => {
  const { workspace, form, signature } = await verifiedForm(c);
  const parsed = SlackCommandForm.safeParse(Object.fromEntries(form));
  if (!parsed.success) {
    // Signed by Slack yet not a command: nothing to do, and nothing to admit.
    throw new ApiError(
      "bad_request",
      "Not a slash command: team_id, user_id, command and response_url are required",
    );
  }
  const command = parsed.data;
  await admit(c, workspace, command.team_id, signature);
  inBackground(
    c,
    onSlackCommand(
      c.var.services,
      workspace,
      {
        actor: { teamId: workspace.teamId, slackUserId: command.user_id, responseUrl: command.response_url },
        text: command.text,
      },
      redeemLinkCode,
    ),
  );
  return c.body(null, 200);
});
