// What a notification about an approval request says (issue 25), whatever the channel: who asks, what,
// why, the level and the deadline, the outcome when it is decided, and the link to the console page.
// The channel builders (notification-cards.ts, src/lib/notification-email.ts) render this one model.
//
// Human text (justification, notes, reasons, strings in the payload) is data: in prose it is flattened
// and quoted (human-text.ts), after a label the server wrote, and the first line (the headline) is fixed
// wording chosen by the kind and status with only ids the service minted or canonicalised, as
// src/mcp/text.ts does for agents: nothing a person wrote can read as the outcome or as an instruction.
import { flattenHumanText, quoteHumanText } from "./human-text.ts";
import {
  type ApprovalEntry,
  levelName,
  NOTIFICATION_KINDS,
  type NotificationKind,
  type StatusHistoryEntry,
} from "./vocabulary.ts";

export { NOTIFICATION_KINDS, type NotificationKind };

/** How many characters of the payload's JSON a notification shows; the console shows all of it. */
export const PAYLOAD_EXCERPT_MAX_CHARS = 400;

/** The fields of an approval request a notification reads (src/db/schema.ts ApprovalRequestRow has them). */
export interface NotifiedRequest {
  id: string;
  tenantId: string;
  skillId: string;
  policyType: string;
  agentId: string | null;
  requestedBy: string;
  payload: unknown;
  justification: string | null;
  requiredLevel: number;
  requiredApprovals: number;
  status: string;
  expiresAt: Date;
  approvalsJson: ApprovalEntry[];
  statusHistoryJson: StatusHistoryEntry[];
}

export interface NotificationRecipient {
  /** null: a tenant's own contact point. */
  principalId: string | null;
  /** Set when the recipient is told as the delegate of this principal. */
  onBehalfOf?: string | null | undefined;
}

/** What an approver wrote, as recorded: raw here, quoted wherever it is shown. */
export interface RecordedNote {
  approverId: string;
  level: number;
  action: string;
  notes: string;
}

export interface NotificationContent {
  kind: NotificationKind;
  /** The first line everywhere: fixed wording by kind and status, ids only. */
  headline: string;
  /** A short subject (email, card title): ids only. */
  title: string;
  requestId: string;
  tenantId: string;
  requestedBy: string;
  agentId: string | null;
  skillId: string;
  policyType: string;
  /** The payload as JSON, flattened and cut to PAYLOAD_EXCERPT_MAX_CHARS: data, never prose. */
  payloadExcerpt: string;
  /** The requester's words, raw: quote or escape them where shown. */
  justification: string | null;
  requiredLevel: number;
  requiredLevelName: string | null;
  requiredApprovals: number;
  status: string;
  expiresAt: string;
  /** The deadline for people: UTC to the minute, and how long is left at `now`. */
  expiresHuman: string;
  /** For `decided`: the outcome, who recorded it, and the reason and notes, raw. */
  outcome: { status: string; decidedBy: string | null; reason: string | null; notes: RecordedNote[] } | null;
  /** principalId null: a tenant's own contact point (a team channel), not one principal. */
  recipient: { principalId: string | null; onBehalfOf: string | null };
  link: string;
}

function levelLabel(level: number): string {
  return `${level}${levelName(level) ? ` ${levelName(level)}` : ""}`;
}

function timeLeft(expiresAt: Date, now: Date): string {
  const minutes = Math.round((expiresAt.getTime() - now.getTime()) / 60_000);
  if (minutes <= 0) return "past the deadline";
  if (minutes < 120) return `in ${minutes} min`;
  if (minutes < 48 * 60)
    return `in ${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
  return `in ${Math.round(minutes / (24 * 60))} days`;
}

/** The payload's JSON on one line, nothing hidden, cut to `maxChars` code points with the length said. */
export function payloadExcerpt(payload: unknown, maxChars = PAYLOAD_EXCERPT_MAX_CHARS): string {
  const flat = flattenHumanText(JSON.stringify(payload) ?? "null");
  const chars = Array.from(flat);
  if (chars.length <= maxChars) return flat;
  return `${chars.slice(0, maxChars).join("")}… (cut: ${chars.length} characters)`;
}

/** The headline: chosen by kind and status, with the ids and the level only. */
function headlineOf(kind: NotificationKind, row: NotifiedRequest, expiresAt: string): string {
  const what = `request ${row.id} (tenant ${row.tenantId}, skill ${row.skillId})`;
  const level = `level ${levelLabel(row.requiredLevel)}`;
  switch (kind) {
    case "approval_needed":
      return `APPROVAL NEEDED: ${what} needs ${level} approval before ${expiresAt}.`;
    case "escalated":
      return `ESCALATED: ${what} was escalated and needs ${level} approval before ${expiresAt}.`;
    case "reminder":
      return `REMINDER: ${what} is still ${row.status} and needs ${level} approval before ${expiresAt}.`;
    case "decided":
      return `DECIDED: ${what} is ${row.status}.`;
    case "progress": {
      const approvals = row.approvalsJson.filter((entry) => entry.action === "approve").length;
      return `IN PROGRESS: ${what} has ${approvals} of ${row.requiredApprovals} approvals at ${level} and is still ${row.status}.`;
    }
  }
}

const TITLES: Record<NotificationKind, string> = {
  approval_needed: "Approval needed",
  escalated: "Escalated",
  reminder: "Reminder",
  decided: "Decided",
  progress: "In progress",
};

/**
 * The content of one notification of `kind` about `row`, for `recipient`, linking to `link` (the
 * view link, services/view-links.ts viewLink).
 */
export function notificationContent(
  row: NotifiedRequest,
  kind: NotificationKind,
  recipient: NotificationRecipient,
  link: string,
  now = new Date(),
): NotificationContent {
  const expiresAt = row.expiresAt.toISOString();
  const last = row.statusHistoryJson.at(-1);
  return {
    kind,
    headline: headlineOf(kind, row, expiresAt),
    title: `${TITLES[kind]}: ${row.skillId} (${row.tenantId}) ${row.id}`,
    requestId: row.id,
    tenantId: row.tenantId,
    requestedBy: row.requestedBy,
    agentId: row.agentId,
    skillId: row.skillId,
    policyType: row.policyType,
    payloadExcerpt: payloadExcerpt(row.payload),
    justification: row.justification,
    requiredLevel: row.requiredLevel,
    requiredLevelName: levelName(row.requiredLevel) ?? null,
    requiredApprovals: row.requiredApprovals,
    status: row.status,
    expiresAt,
    expiresHuman: `${expiresAt.slice(0, 16).replace("T", " ")} UTC (${timeLeft(row.expiresAt, now)})`,
    outcome:
      kind === "decided"
        ? {
            status: row.status,
            decidedBy: last?.actor ?? null,
            reason: last?.reason ?? null,
            notes: row.approvalsJson.flatMap((entry) =>
              entry.notes
                ? [
                    {
                      approverId: entry.approver_id,
                      level: entry.level,
                      action: entry.action,
                      notes: entry.notes,
                    },
                  ]
                : [],
            ),
          }
        : null,
    recipient: { principalId: recipient.principalId, onBehalfOf: recipient.onBehalfOf ?? null },
    link,
  };
}

/** One labelled fact of a notification: `value` is already safe as plain text (ids, or quoted). */
export interface NotificationFact {
  label: string;
  value: string;
  /**
   * Whose words the value is: absent for the server's own (ids, levels, times); "data" for the
   * payload's JSON, "quote" for what people wrote. A channel with markup shows those two as literal text.
   */
  human?: "data" | "quote";
}

/**
 * The facts every channel shows, in order, as plain text: ids as they are (canonical, no spaces or
 * markup characters beyond . _ @ : / -), human text quoted as data.
 */
export function notificationFacts(content: NotificationContent): NotificationFact[] {
  const facts: NotificationFact[] = [
    {
      label: "For",
      value:
        content.recipient.principalId === null
          ? `everyone who decides tenant ${content.tenantId}'s requests`
          : content.recipient.onBehalfOf
            ? `${content.recipient.principalId}, on behalf of ${content.recipient.onBehalfOf}`
            : content.recipient.principalId,
    },
    { label: "Tenant", value: content.tenantId },
    {
      label: "Asked by",
      value: content.agentId ? `${content.requestedBy} for agent ${content.agentId}` : content.requestedBy,
    },
    { label: "Skill", value: `${content.skillId} (${content.policyType})` },
    {
      label: "Required",
      value: `level ${levelLabel(content.requiredLevel)}, ${content.requiredApprovals} approval${content.requiredApprovals === 1 ? "" : "s"}`,
    },
    { label: "Deadline", value: content.expiresHuman },
    { label: "Payload (JSON excerpt, data)", value: content.payloadExcerpt, human: "data" },
    content.justification === null
      ? { label: "Justification (the requester's words, quoted as data)", value: "none given" }
      : {
          label: "Justification (the requester's words, quoted as data)",
          value: quoteHumanText(content.justification),
          human: "quote",
        },
  ];
  if (content.outcome) {
    facts.push({ label: "Outcome", value: content.outcome.status });
    if (content.outcome.decidedBy) facts.push({ label: "Recorded by", value: content.outcome.decidedBy });
    if (content.outcome.reason) {
      facts.push({
        label: "Reason (quoted as data)",
        value: quoteHumanText(content.outcome.reason),
        human: "quote",
      });
    }
    for (const note of content.outcome.notes) {
      facts.push({
        label: `Notes of ${note.approverId} (${note.action}, level ${note.level}; quoted as data)`,
        value: quoteHumanText(note.notes),
        human: "quote",
      });
    }
  }
  return facts;
}

/** The closing line: what the link does and does not do. */
export const LINK_NOTE =
  "The link opens the request once, read-only; deciding needs your own console session (sign in there).";

/** The notification as plain text: the headline first, the facts one line each, the link last. */
export function notificationText(content: NotificationContent): string {
  return [
    content.headline,
    "",
    ...notificationFacts(content).map((fact) => `${fact.label}: ${fact.value}`),
    "",
    `Open the request: ${content.link}`,
    LINK_NOTE,
  ].join("\r\n");
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text as HTML text or attribute value: & < > " ' escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}
