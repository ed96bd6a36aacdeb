// Opening a Slack modal (views.open) through slack-web-api-client, for the services, which import no
// Slack package themselves (scripts/lib/layering.ts). No retries: a trigger_id lives three seconds, so
// a retried open after a 429 would fail anyway. The bot token goes in the Authorization header only.
import { type ModalView, SlackAPIClient } from "slack-web-api-client";

export type { ModalView };

/** Opens `view` for the user whose click gave `triggerId`; the Slack error code when Slack refuses. */
export async function openSlackView(
  api: { botToken: string; baseUrl: string },
  triggerId: string,
  view: ModalView,
): Promise<{ ok: true } | { ok: false; error: string }> {
  const client = new SlackAPIClient(api.botToken, {
    baseUrl: api.baseUrl,
    retryHandlers: [],
    throwSlackAPIError: false,
  });
  try {
    const answer = await client.views.open({ trigger_id: triggerId, view });
    return answer.ok ? { ok: true } : { ok: false, error: String(answer.error ?? "unknown_error") };
  } catch (error) {
    // Transport failures and HTTP errors: the name only, never the request (it carries the token).
    return { ok: false, error: error instanceof Error ? error.name : "request_failed" };
  }
}
