// Sending one `slack` notification delivery (issue 26), dispatched by services/notifications/send.ts
// through the one engine's machinery: the attempt record, backoff with Retry-After, the pause switch
// (checked by the caller), the batch's send slots and deadline.
//
// approval_needed, escalated, reminder: chat.postMessage to the routed channel, the message recorded in
// slack_messages before the delivery is acked; a delivery that already posted (a retry after the post,
// a duplicate from the sweep) posts nothing again. decided and progress: chat.update of every message
// posted about the request, rendered from the request as it is now (so an update that lands late
// still shows the current state); with no message posted there is nothing to update: skipped.
//
// Plain fetch rather than slack-web-api-client: the engine needs the HTTP status, Retry-After, one
// clock per call and its own retries, which the client hides behind its own retry handlers and errors.
// The bot token goes only in the Authorization header: never in a log line, an error or an attempt.
import type { ApprovalRequestRow, WebhookOutboxRow } from "../../db/schema.ts";
import {
  markSlackMessageUpdated,
  recordSlackMessage,
  slackMessageOfDelivery,
  slackMessagesOf,
} from "../../db/slack.ts";
import { isOpen } from "../../domain/approvals.ts";
import { notificationContent } from "../../domain/notification-content.ts";
import {
  quorumProgress,
  SLACK_POSTED_KINDS,
  type SlackMessage,
  slackMessage,
} from "../../domain/slack-blocks.ts";
import { slackChannelFor } from "../../domain/slack-routing.ts";
import type { ApprovalStatus, NotificationKind } from "../../domain/vocabulary.ts";
import type { ServiceContext } from "../context.ts";
import {
  type Attempt,
  backoffSeconds,
  type DeliveryBatch,
  type DeliveryVerdict,
  errorText,
  NOT_SENT_RETRY_SECONDS,
  retryAfterSeconds,
  retryForConfiguration,
  skip,
} from "../webhooks/sending.ts";
import { loadSlackWorkspace, type OpenedSlackWorkspace } from "./workspace.ts";

/** Slack's `{ok: false}` errors worth retrying (besides 429 and 5xx); any other error is for good. */
const RETRYABLE_ERRORS = new Set([
  "ratelimited",
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
]);
/** Errors that concern the whole workspace (its token): no other message of the request can do better. */
const WORKSPACE_ERRORS = new Set([
  "invalid_auth",
  "not_authed",
  "account_inactive",
  "token_revoked",
  "token_expired",
  "missing_scope",
  "team_access_not_granted",
]);

/** One Web API call's outcome, classified. */
export type SlackCallResult =
  | { kind: "ok"; status: number; body: Record<string, unknown> }
  | { kind: "retry"; status: number | null; error: string; retryAfter: number | null }
  | { kind: "failed"; status: number; error: string }
  | { kind: "not_sent" };

/**
 * What an answer means: 2xx with ok → ok; 429 or `ratelimited` → retry (Retry-After honoured); 5xx or
 * a transient error → retry; any other `{ok: false, error}` or 4xx → failed for good.
 */
export function classifySlackAnswer(
  status: number,
  body: Record<string, unknown> | null,
  retryAfter: number | null,
): SlackCallResult {
  const error = typeof body?.error === "string" ? body.error.slice(0, 100) : null;
  if (status === 429) return { kind: "retry", status, error: error ?? "ratelimited", retryAfter };
  if (status >= 500 || status === 408) {
    return { kind: "retry", status, error: error ?? `http_${status}`, retryAfter };
  }
  if (status >= 200 && status < 300) {
    if (body?.ok === true) return { kind: "ok", status, body };
    if (body === null) return { kind: "retry", status, error: "the answer was not JSON", retryAfter: null };
    const code = error ?? "unknown_error";
    if (RETRYABLE_ERRORS.has(code)) return { kind: "retry", status, error: code, retryAfter };
    return { kind: "failed", status, error: code };
  }
  return { kind: "failed", status, error: error ?? `http_${status}` };
}

/**
 * One Web API call to `method` under `baseUrl` (SLACK_API_BASE_URL), bounded by `timeoutMs`, classified.
 * The one way this service calls Slack's Web API: the sender (below) and the token check of a workspace
 * being connected (verify-token.ts) share it. The token goes in the Authorization header only.
 */
export async function callSlackApi(
  baseUrl: string,
  token: string,
  method: string,
  body: Record<string, unknown>,
  timeoutMs: number,
): Promise<SlackCallResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(new URL(method, baseUrl), {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token}`,
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "policy-api-slack",
      },
      body: JSON.stringify(body),
      redirect: "manual",
      signal,
    });
    const text = await response.text();
    let parsed: Record<string, unknown> | null = null;
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === "object" && !Array.isArray(value))
        parsed = value as Record<string, unknown>;
    } catch {
      parsed = null;
    }
    return classifySlackAnswer(
      response.status,
      parsed,
      retryAfterSeconds(response.headers.get("Retry-After"), Date.now()),
    );
  } catch (error) {
    const message = signal.aborted
      ? `no answer within ${timeoutMs} ms`
      : `network error: ${errorText(error)}`;
    return { kind: "retry", status: null, error: message, retryAfter: null };
  }
}

/** One Web API call under one send slot and one clock (WEBHOOK_TIMEOUT_MS), within the batch's deadline. */
async function callSlack(
  ctx: ServiceContext,
  token: string,
  method: "chat.postMessage" | "chat.update",
  body: Record<string, unknown>,
  batch: DeliveryBatch,
): Promise<SlackCallResult> {
  const release = await batch.acquire();
  try {
    if (Date.now() + batch.timeoutMs > batch.deadline) return { kind: "not_sent" };
    return await callSlackApi(ctx.config.SLACK_API_BASE_URL, token, method, body, batch.timeoutMs);
  } finally {
    release();
  }
}

export interface SlackDelivery {
  delivery: WebhookOutboxRow;
  request: ApprovalRequestRow;
  kind: NotificationKind;
  attempt: Attempt;
  queueAttempt: number;
  batch: DeliveryBatch;
}

/** The message about `request` as it is now, for `kind`. */
function messageFor(
  ctx: ServiceContext,
  request: ApprovalRequestRow,
  kind: NotificationKind,
  workspace: OpenedSlackWorkspace,
): SlackMessage {
  const consoleUrl = new URL(`/console/requests/${request.id}`, ctx.config.CONSOLE_BASE_URL).toString();
  const content = notificationContent(request, kind, { principalId: null }, consoleUrl);
  return slackMessage(content, {
    progress: quorumProgress(request.approvalsJson, request.requiredApprovals),
    consoleUrl,
    maxDecideLevel: workspace.maxDecideLevel,
    open: isOpen(request.status as ApprovalStatus),
  });
}

/** Records a call that did not succeed and gives the verdict: retried with backoff, or failed for good. */
async function unsuccessful(
  ctx: ServiceContext,
  job: SlackDelivery,
  method: string,
  result: Exclude<SlackCallResult, { kind: "ok" }>,
): Promise<DeliveryVerdict> {
  const { attempt, queueAttempt } = job;
  if (result.kind === "not_sent") {
    await attempt.record({
      outcome: "retry",
      deliveryStatus: "pending",
      error: "not sent: the queue batch ran out of time",
      called: false,
    });
    attempt.count("retry");
    return { retryAfterSeconds: NOT_SENT_RETRY_SECONDS };
  }
  if (result.kind === "retry") {
    await attempt.record({
      outcome: "retry",
      deliveryStatus: "pending",
      statusCode: result.status,
      error: `slack ${method}: ${result.error}`,
      called: true,
    });
    attempt.count("retry");
    return { retryAfterSeconds: backoffSeconds(queueAttempt, result.retryAfter) };
  }
  await attempt.record({
    outcome: "failed",
    deliveryStatus: "failed",
    statusCode: result.status,
    error: `slack ${method}: ${result.error}`,
    called: true,
  });
  attempt.count("failed");
  attempt.failed("rejected");
  ctx.log.warn("slack_delivery_failed", {
    delivery_id: job.delivery.id,
    request_id: job.request.id,
    method,
    error: result.error,
  });
  return { ack: true };
}

async function delivered(attempt: Attempt, excerpt: string): Promise<DeliveryVerdict> {
  await attempt.record({
    outcome: "success",
    deliveryStatus: "delivered",
    statusCode: 200,
    responseExcerpt: excerpt,
    called: true,
  });
  attempt.count("success");
  return { ack: true };
}

/** One attempt at one `slack` delivery. */
export async function deliverSlack(ctx: ServiceContext, job: SlackDelivery): Promise<DeliveryVerdict> {
  const { attempt, request, kind } = job;
  let workspace: OpenedSlackWorkspace | undefined;
  try {
    workspace = await loadSlackWorkspace(ctx, request.tenantId);
  } catch (error) {
    ctx.log.error("slack_workspace_not_opened", { delivery_id: job.delivery.id, error: errorText(error) });
    return retryForConfiguration(attempt, job.queueAttempt, "cannot unseal the Slack workspace's token");
  }
  if (!workspace) return skip(attempt, "the tenant has no Slack workspace (disconnected)");
  if (SLACK_POSTED_KINDS.includes(kind)) return post(ctx, job, workspace);
  return update(ctx, job, workspace);
}

async function post(ctx: ServiceContext, job: SlackDelivery, workspace: OpenedSlackWorkspace) {
  const { attempt, request, delivery } = job;
  if (!isOpen(request.status as ApprovalStatus)) {
    return skip(attempt, `the request no longer waits for a decision (it is ${request.status})`);
  }
  // Posted already (the ack was lost, or the sweep handed it again): never a second message.
  const posted = await slackMessageOfDelivery(ctx.db, delivery.id);
  if (posted) return delivered(attempt, `posted already to ${posted.channel} (ts ${posted.ts})`);
  const channel = slackChannelFor(workspace, request);
  const message = messageFor(ctx, request, job.kind, workspace);
  const result = await callSlack(
    ctx,
    workspace.botToken,
    "chat.postMessage",
    { channel, ...message, unfurl_links: false, unfurl_media: false, link_names: false, parse: "none" },
    job.batch,
  );
  if (result.kind !== "ok") return unsuccessful(ctx, job, "chat.postMessage", result);
  const ts = typeof result.body.ts === "string" ? result.body.ts : null;
  const postedTo = typeof result.body.channel === "string" ? result.body.channel : channel;
  if (!ts)
    return unsuccessful(ctx, job, "chat.postMessage", {
      kind: "failed",
      status: 200,
      error: "no ts in the answer",
    });
  // Recorded before the ack: a retry from here on finds it and posts nothing.
  await recordSlackMessage(ctx.db, {
    requestId: request.id,
    tenantId: request.tenantId,
    channel: postedTo,
    ts,
    deliveryId: delivery.id,
  });
  return delivered(attempt, `posted to ${postedTo} (ts ${ts})`);
}

async function update(ctx: ServiceContext, job: SlackDelivery, workspace: OpenedSlackWorkspace) {
  const { attempt, request } = job;
  const messages = await slackMessagesOf(ctx.db, request.id);
  if (messages.length === 0) return skip(attempt, "no Slack message was posted about this request");
  // The state now, whatever the kind that asked: a progress update that lands after the decision
  // shows the decision, not the progress.
  const kind: NotificationKind = isOpen(request.status as ApprovalStatus) ? "progress" : "decided";
  const message = messageFor(ctx, request, kind, workspace);
  const failures: string[] = [];
  for (const posted of messages) {
    const result = await callSlack(
      ctx,
      workspace.botToken,
      "chat.update",
      { channel: posted.channel, ts: posted.ts, ...message, link_names: false, parse: "none" },
      job.batch,
    );
    if (result.kind === "ok") {
      await markSlackMessageUpdated(ctx.db, posted.id, new Date());
      continue;
    }
    // Retried as a whole: updating a message twice to the same content is harmless.
    if (result.kind !== "failed" || WORKSPACE_ERRORS.has(result.error)) {
      return unsuccessful(ctx, job, "chat.update", result);
    }
    failures.push(`${posted.channel}: ${result.error}`);
  }
  if (failures.length === messages.length) {
    return unsuccessful(ctx, job, "chat.update", { kind: "failed", status: 200, error: failures.join("; ") });
  }
  const updated = messages.length - failures.length;
  return delivered(
    attempt,
    `updated ${updated} of ${messages.length} messages to ${kind}${failures.length ? `; not: ${failures.join("; ")}` : ""}`,
  );
}
