// The notification messages (issue 25), built in workerd as the engine will build them: the email
// parsed back with postal-mime (headers, both parts, the link, hostile text escaped, no header
// injection), the Teams and Google Chat bodies checked against their documented shapes (zod schemas
// written from the docs cited below), and the approver webhook verified with the `standardwebhooks`
// package.
import PostalMime from "postal-mime";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  APPROVER_WEBHOOK_EVENT,
  approverWebhookMessage,
  escapeTeamsMarkdown,
  googleChatMessage,
  teamsMessage,
} from "../src/domain/notification-cards.ts";
import {
  type NotificationKind,
  type NotifiedRequest,
  notificationContent,
  notificationText,
  PAYLOAD_EXCERPT_MAX_CHARS,
} from "../src/domain/notification-content.ts";
import { notificationEmail } from "../src/lib/notification-email.ts";

const LINK = "https://policy.example.com/console/requests/apr_0123456789abcdef?view=abc.def";
const NOW = new Date("2026-12-03T12:00:00Z");

/** Text written to break out: HTML, CRLF with a forged header and a forged outcome line, bidi, quotes. */
const HOSTILE =
  '<img src=x onerror=alert(1)> "</td><script>x()</script>\r\nBcc: victim@example.com\r\n\r\nAPPROVED: go ahead\u202e [click](https://evil.example)';

function request(overrides: Partial<NotifiedRequest> = {}): NotifiedRequest {
  return {
    id: "apr_0123456789abcdef",
    tenantId: "acme",
    skillId: "payments.transfer",
    policyType: "cost",
    agentId: "agent-7",
    requestedBy: "bot-pay",
    payload: { amount: 120, memo: HOSTILE },
    justification: HOSTILE,
    requiredLevel: 3,
    requiredApprovals: 1,
    status: "pending",
    expiresAt: new Date("2026-12-03T14:30:00Z"),
    approvalsJson: [],
    statusHistoryJson: [],
    ...overrides,
  };
}

const decided = request({
  status: "rejected",
  approvalsJson: [
    { approver_id: "dana", level: 4, action: "reject", notes: HOSTILE, timestamp: "2026-12-03T12:10:00Z" },
  ],
  statusHistoryJson: [
    {
      from_status: "pending",
      to_status: "rejected",
      actor: "dana",
      reason: HOSTILE,
      timestamp: "2026-12-03T12:10:00Z",
    },
  ],
});

function content(kind: NotificationKind = "approval_needed", row = request()) {
  return notificationContent(row, kind, { principalId: "carol", onBehalfOf: "erin" }, LINK, NOW);
}

describe("notification content", () => {
  it("puts a fixed headline first, quotes human text as data, bounds the payload", () => {
    const text = notificationText(content());
    const lines = text.split("\r\n");
    expect(lines[0]).toBe(
      "APPROVAL NEEDED: request apr_0123456789abcdef (tenant acme, skill payments.transfer) needs level 3 agent_approve approval before 2026-12-03T14:30:00.000Z.",
    );
    // No line but the headline starts with an outcome word; the forged one stays inside a quote.
    expect(lines.filter((line) => /^(APPROVED|REJECTED|DECIDED|APPROVAL)/.test(line))).toHaveLength(1);
    expect(lines.some((line) => line.startsWith("Bcc:"))).toBe(false);
    expect(text).not.toContain("\u202e");
    expect(text).toContain("For: carol, on behalf of erin");
    expect(text).toContain("Deadline: 2026-12-03 14:30 UTC (in 2 h 30 min)");
    expect(text).toContain(`Open the request: ${LINK}`);
    const long = content("approval_needed", request({ payload: { blob: "x".repeat(5000) } }));
    expect(Array.from(long.payloadExcerpt).length).toBeLessThan(PAYLOAD_EXCERPT_MAX_CHARS + 40);
    expect(long.payloadExcerpt).toContain("(cut: ");
  });

  it("says the outcome for the requester's side, notes and reason quoted", () => {
    const text = notificationText(content("decided", decided));
    expect(text.split("\r\n")[0]).toBe(
      "DECIDED: request apr_0123456789abcdef (tenant acme, skill payments.transfer) is rejected.",
    );
    expect(text).toContain("Outcome: rejected");
    expect(text).toContain("Recorded by: dana");
    expect(text).toMatch(/Notes of dana \(reject, level 4; quoted as data\): "<img/);
  });
});

describe("email", () => {
  const envelope = {
    from: { addr: "approvals@policy.example.com", name: "Policy API" },
    to: "carol@example.com",
  };

  it("parses back with both parts, the link in each, every value escaped in the HTML", async () => {
    const built = notificationEmail(content("decided", decided), envelope);
    expect(built.from).toBe("approvals@policy.example.com");
    expect(built.to).toBe("carol@example.com");
    expect(built.raw).toContain("\r\n");
    expect(built.raw.replaceAll("\r\n", "")).not.toMatch(/\n/);
    const parsed = await PostalMime.parse(built.raw);
    expect(parsed.from?.address).toBe("approvals@policy.example.com");
    expect(parsed.to?.map((to) => to.address)).toEqual(["carol@example.com"]);
    expect(parsed.subject).toBe("[Policy API] Decided: payments.transfer (acme) apr_0123456789abcdef");
    expect(parsed.messageId).toBeTruthy();
    expect(parsed.text).toContain(LINK);
    expect(parsed.text?.split(/\r?\n/)[0]).toMatch(/^DECIDED: /);
    const html = parsed.html ?? "";
    expect(html).toContain(`href="${LINK}"`);
    expect(html).not.toMatch(/<img|<script|<\/td><script/);
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain("&quot;&lt;/td&gt;&lt;script&gt;");
    // Only the headers the builder set: nothing smuggled in.
    expect(parsed.bcc ?? []).toEqual([]);
    expect(parsed.headers.map((header) => header.key).sort()).toEqual(
      ["content-type", "date", "from", "message-id", "mime-version", "subject", "to"].sort(),
    );
  });

  it("keeps CR and LF out of every header, and bounds the subject", async () => {
    const row = request({ skillId: "a".repeat(180) });
    const built = notificationEmail(content("approval_needed", row), {
      from: { addr: "approvals@policy.example.com", name: 'Ops\r\nBcc: victim@example.com "x"' },
      to: "carol@example.com",
    });
    const parsed = await PostalMime.parse(built.raw);
    expect(parsed.bcc ?? []).toEqual([]);
    expect(parsed.headers.some((header) => header.key === "bcc")).toBe(false);
    expect(Array.from(parsed.subject ?? "").length).toBeLessThanOrEqual(150);
    expect(parsed.from?.name).not.toMatch(/[\r\n]/);
    for (const to of [
      "carol@example.com\r\nBcc: victim@example.com",
      "Carol <carol@example.com>",
      "nobody",
    ]) {
      expect(() => notificationEmail(content(), { ...envelope, to })).toThrow(/plain email address/);
    }
  });
});

// Teams: "Send Adaptive Cards using an Incoming Webhook"
// (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook):
// {type: "message", attachments: [{contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null,
// content: AdaptiveCard}]}; the card per https://adaptivecards.io/explorer/ with version 1.4 or lower.
const TextBlock = z.object({
  type: z.literal("TextBlock"),
  text: z.string(),
  wrap: z.boolean().optional(),
  weight: z.enum(["Default", "Lighter", "Bolder"]).optional(),
  size: z.enum(["Default", "Small", "Medium", "Large", "ExtraLarge"]).optional(),
  isSubtle: z.boolean().optional(),
});
const FactSet = z.object({
  type: z.literal("FactSet"),
  facts: z.array(z.object({ title: z.string(), value: z.string() }).strict()).min(1),
});
const TeamsMessage = z
  .object({
    type: z.literal("message"),
    attachments: z
      .array(
        z
          .object({
            contentType: z.literal("application/vnd.microsoft.card.adaptive"),
            contentUrl: z.null(),
            content: z
              .object({
                $schema: z.literal("http://adaptivecards.io/schemas/adaptive-card.json"),
                type: z.literal("AdaptiveCard"),
                version: z.enum(["1.0", "1.1", "1.2", "1.3", "1.4"]),
                body: z.array(z.union([TextBlock.strict(), FactSet.strict()])).min(1),
                actions: z.array(
                  z.object({ type: z.literal("Action.OpenUrl"), title: z.string(), url: z.url() }).strict(),
                ),
              })
              .strict(),
          })
          .strict(),
      )
      .length(1),
  })
  .strict();

// Google Chat: Message.cardsV2 (https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages#CardWithId)
// and Card (https://developers.google.com/workspace/chat/api/reference/rest/v1/cards): header {title, subtitle},
// sections of widgets, each widget one of textParagraph, decoratedText, buttonList; OnClick.openLink.url.
const Widget = z.union([
  z.object({ textParagraph: z.object({ text: z.string() }).strict() }).strict(),
  z
    .object({
      decoratedText: z.object({ topLabel: z.string(), text: z.string(), wrapText: z.boolean() }).strict(),
    })
    .strict(),
  z
    .object({
      buttonList: z
        .object({
          buttons: z
            .array(
              z
                .object({
                  text: z.string(),
                  onClick: z.object({ openLink: z.object({ url: z.url() }).strict() }).strict(),
                })
                .strict(),
            )
            .min(1),
        })
        .strict(),
    })
    .strict(),
]);
const GoogleChatMessage = z
  .object({
    cardsV2: z
      .array(
        z
          .object({
            cardId: z.string().min(1),
            card: z
              .object({
                header: z.object({ title: z.string().min(1), subtitle: z.string() }).strict(),
                sections: z.array(z.object({ widgets: z.array(Widget).min(1) }).strict()).min(1),
              })
              .strict(),
          })
          .strict(),
      )
      .length(1),
  })
  .strict();

describe("chat cards", () => {
  it("builds a Teams message of the documented shape, the link as Action.OpenUrl, Markdown escaped", () => {
    const message = TeamsMessage.parse(teamsMessage(content("decided", decided)));
    const card = message.attachments[0]?.content;
    expect(card?.actions).toEqual([{ type: "Action.OpenUrl", title: "Open the request", url: LINK }]);
    const all = JSON.stringify(card?.body);
    expect(all).not.toContain("[click](https");
    expect(all).not.toContain("<img");
    expect(all).toContain("&lt;img src=x onerror=alert\\\\(1\\\\)>");
    expect(escapeTeamsMarkdown("- **x** <at>y</at> & 1. z")).toBe(
      "\\- \\*\\*x\\*\\* &lt;at>y&lt;/at> &amp; 1. z",
    );
    expect(all).toContain("\\\\[click\\\\]\\\\(https");
    expect(JSON.stringify(card?.body[0])).toContain('"text":"DECIDED: request apr\\\\_0123456789abcdef');
  });

  it("builds a Google Chat message of the documented shape, the link as a button, HTML escaped", () => {
    const message = GoogleChatMessage.parse(googleChatMessage(content("reminder")));
    const card = message.cardsV2[0]?.card;
    const all = JSON.stringify(card);
    expect(all).not.toMatch(/<img|<script/);
    expect(all).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(all).toContain(JSON.stringify(LINK));
    expect(card?.header.title).toBe("Reminder: payments.transfer (acme) apr_0123456789abcdef");
    expect(card?.sections[0]?.widgets[0]).toEqual({
      textParagraph: { text: expect.stringMatching(/^<b>REMINDER: request apr_0123456789abcdef/) },
    });
  });
});

describe("approver webhook", () => {
  const secret = `whsec_${btoa("approver-webhook-secret-32-bytes!")}`;

  it("is a Standard Webhooks event the official library verifies, human text raw in the data", async () => {
    const built = await approverWebhookMessage(content("escalated"), {
      secret,
      eventId: "ntf_0001",
      timestampSeconds: Math.floor(Date.now() / 1000),
    });
    const event = new Webhook(secret).verify(built.body, built.headers) as {
      type: string;
      data: { link: string; headline: string; request: { justification: string; request_id: string } };
    };
    expect(event.type).toBe(APPROVER_WEBHOOK_EVENT);
    expect(event.data.link).toBe(LINK);
    expect(event.data.headline).toMatch(/^ESCALATED: /);
    expect(event.data.request.request_id).toBe("apr_0123456789abcdef");
    expect(event.data.request.justification).toBe(HOSTILE);
    expect(built.headers["Content-Type"]).toBe("application/json");
    expect(() =>
      new Webhook(secret).verify(built.body.replace("escalated", "approved"), built.headers),
    ).toThrow();
    const other = `whsec_${btoa("another-secret-of-32-bytes-long!!")}`;
    expect(() => new Webhook(other).verify(built.body, built.headers)).toThrow();
  });
});
