// A notification (notification-content.ts) as the chat and webhook channels take it (issue 25): the
// JSON body a Microsoft Teams or Google Chat incoming webhook accepts, and the signed event of the
// generic approver webhook (Standard Webhooks, signed by webhook-signing.ts, the one signer). Each
// builder returns exactly what is POSTed; the engine only sends it.
import {
  escapeHtml,
  LINK_NOTE,
  type NotificationContent,
  notificationFacts,
} from "./notification-content.ts";
import { keyBytes, signatureHeaders } from "./webhook-signing.ts";

/**
 * What Teams's Markdown in TextBlock and Fact values makes of text: **bold**, _italic_, [links](url),
 * lists at a line's start, <at> mentions and entities
 * (https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-format).
 */
const MARKDOWN_SPECIALS = /[\\`*_~[\]()]/g;

/**
 * Text for a Teams card, shown as written: Markdown punctuation backslash-escaped, `<` and `&` as
 * entities (no tag, mention or entity forms), and a leading list marker escaped. The text is on one
 * line already (flattened or ids), so no list can start later.
 */
export function escapeTeamsMarkdown(text: string): string {
  return text
    .replace(MARKDOWN_SPECIALS, (char) => `\\${char}`)
    .replace(/[<&]/g, (char) => (char === "<" ? "&lt;" : "&amp;"))
    .replace(/^([-+]|\d+\.)/, "\\$1");
}

/**
 * Microsoft Teams incoming webhook: a `message` with one Adaptive Card attachment, schema 1.4 (Teams
 * renders up to 1.5 in webhooks; 1.4 is the safe floor), the facts as a FactSet, an Action.OpenUrl to
 * the link. Format: "Send Adaptive Cards using an Incoming Webhook",
 * https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
 * and the card schema, https://adaptivecards.io/explorer/ (TextBlock, FactSet, Action.OpenUrl).
 */
export function teamsMessage(content: NotificationContent) {
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          body: [
            {
              type: "TextBlock",
              text: escapeTeamsMarkdown(content.headline),
              weight: "Bolder",
              size: "Medium",
              wrap: true,
            },
            {
              type: "FactSet",
              facts: notificationFacts(content).map((fact) => ({
                title: escapeTeamsMarkdown(fact.label),
                value: escapeTeamsMarkdown(fact.value),
              })),
            },
            { type: "TextBlock", text: escapeTeamsMarkdown(LINK_NOTE), wrap: true, isSubtle: true },
          ],
          actions: [{ type: "Action.OpenUrl", title: "Open the request", url: content.link }],
        },
      },
    ],
  };
}

/**
 * Google Chat incoming webhook: a message of `cardsV2` with a header, a section of decoratedText
 * widgets (their text takes a little HTML, so every value is HTML-escaped) and a button opening the
 * link. Format: https://developers.google.com/workspace/chat/api/reference/rest/v1/cards (Card,
 * CardHeader, Section, DecoratedText, ButtonList, OnClick.openLink) and, for the HTML text fields,
 * https://developers.google.com/workspace/chat/format-messages#card-formatting. Header titles are plain
 * text and carry ids only.
 */
export function googleChatMessage(content: NotificationContent) {
  return {
    cardsV2: [
      {
        cardId: `policy-${content.kind}-${content.requestId}`,
        card: {
          header: { title: content.title, subtitle: `Policy API · ${content.status}` },
          sections: [
            {
              widgets: [
                { textParagraph: { text: `<b>${escapeHtml(content.headline)}</b>` } },
                ...notificationFacts(content).map((fact) => ({
                  decoratedText: {
                    topLabel: escapeHtml(fact.label),
                    text: escapeHtml(fact.value),
                    wrapText: true,
                  },
                })),
              ],
            },
            {
              widgets: [
                { textParagraph: { text: escapeHtml(LINK_NOTE) } },
                {
                  buttonList: {
                    buttons: [{ text: "Open the request", onClick: { openLink: { url: content.link } } }],
                  },
                },
              ],
            },
          ],
        },
      },
    ],
  };
}

/** The approver webhook's event type. */
export const APPROVER_WEBHOOK_EVENT = "approval.notification";

/**
 * The generic approver webhook (PagerDuty, Opsgenie, anything): a Standard Webhooks event
 * {type, timestamp, data} signed with the contact point's secret by webhook-signing.ts. The data keeps
 * human text raw (it is a structured field: the receiver escapes it where it shows it) beside the
 * headline. `eventId` stays the same across retries of one notification (receivers de-duplicate on it).
 */
export async function approverWebhookMessage(
  content: NotificationContent,
  signing: { secret: string; eventId: string; timestampSeconds: number },
): Promise<{ body: string; headers: Record<string, string> }> {
  const body = JSON.stringify({
    type: APPROVER_WEBHOOK_EVENT,
    timestamp: new Date(signing.timestampSeconds * 1000).toISOString(),
    data: {
      kind: content.kind,
      headline: content.headline,
      link: content.link,
      recipient: { principal_id: content.recipient.principalId, on_behalf_of: content.recipient.onBehalfOf },
      request: {
        request_id: content.requestId,
        tenant_id: content.tenantId,
        requested_by: content.requestedBy,
        agent_id: content.agentId,
        skill_id: content.skillId,
        policy_type: content.policyType,
        payload_excerpt: content.payloadExcerpt,
        justification: content.justification,
        required_level: content.requiredLevel,
        required_level_name: content.requiredLevelName,
        required_approvals: content.requiredApprovals,
        status: content.status,
        expires_at: content.expiresAt,
      },
      outcome: content.outcome && {
        status: content.outcome.status,
        decided_by: content.outcome.decidedBy,
        reason: content.outcome.reason,
        notes: content.outcome.notes.map((note) => ({
          approver_id: note.approverId,
          level: note.level,
          action: note.action,
          notes: note.notes,
        })),
      },
    },
  });
  const key = { version: "contact", bytes: keyBytes(signing.secret) };
  const headers = await signatureHeaders([key], signing.eventId, signing.timestampSeconds, body);
  return { body, headers: { "Content-Type": "application/json", ...headers } };
}
