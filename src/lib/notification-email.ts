// A notification (src/domain/notification-content.ts) as an email for Cloudflare's send_email binding
// (issue 25): the raw MIME message and the envelope `new EmailMessage(from, to, raw)` of
// `cloudflare:email` takes. Built with mimetext, the library Cloudflare's send_email docs use, from its
// browser entry: that one writes CRLF line endings (RFC 5322) and needs no node: module, so it runs in
// workerd as it is (the node entry takes os.EOL, a bare LF on Linux).
import { createMimeMessage } from "mimetext/browser";
import {
  escapeHtml,
  LINK_NOTE,
  type NotificationContent,
  notificationFacts,
  notificationText,
} from "../domain/notification-content.ts";

/** Subjects longer than this are cut (RFC 5322 advises 78 per line; the encoder folds the rest). */
export const MAX_SUBJECT_CHARS = 150;

/** A plain address: one @, no spaces, angle brackets, quotes or controls. */
const ADDRESS = /^[^\s<>"(),;:\\@]+@[^\s<>"(),;:\\@]+$/;

/** Header text on one line: CR, LF and every other control removed, whitespace runs one space. */
export function headerText(text: string, maxChars: number): string {
  const flat = text
    .replace(/\p{Cc}|\p{Cf}|[\u2028\u2029]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  const chars = Array.from(flat);
  return chars.length <= maxChars ? flat : `${chars.slice(0, maxChars - 1).join("")}…`;
}

function address(text: string, role: string): string {
  const value = headerText(text, 320);
  if (!ADDRESS.test(value)) throw new Error(`${role} is not a plain email address`);
  return value;
}

export interface EmailEnvelope {
  /** The sender address (the binding's allowed sender) and an optional display name. */
  from: { addr: string; name?: string | undefined };
  to: string;
}

export interface BuiltEmail {
  from: string;
  to: string;
  /** The whole message, CRLF line endings: the third argument of `new EmailMessage(from, to, raw)`. */
  raw: string;
}

function htmlBody(content: NotificationContent): string {
  const link = escapeHtml(content.link);
  const rows = notificationFacts(content)
    .map(
      (fact) =>
        `<tr><th align="left" valign="top">${escapeHtml(fact.label)}</th><td>${escapeHtml(fact.value)}</td></tr>`,
    )
    .join("\r\n");
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8"></head><body>',
    `<p><strong>${escapeHtml(content.headline)}</strong></p>`,
    `<table cellpadding="4">${rows}</table>`,
    `<p><a href="${link}">Open the request</a></p>`,
    `<p>${link}</p>`,
    `<p><small>${escapeHtml(LINK_NOTE)}</small></p>`,
    "</body></html>",
  ].join("\r\n");
}

/**
 * The email for `content`: From, To and a bounded Subject (no CR or LF can reach a header), a text/plain
 * part and a text/html part (every interpolated value HTML-escaped), the link in both. Throws when an
 * address is not a plain address (the directory validates them first).
 */
export function notificationEmail(content: NotificationContent, envelope: EmailEnvelope): BuiltEmail {
  const from = address(envelope.from.addr, "from");
  const to = address(envelope.to, "to");
  const message = createMimeMessage();
  const name = envelope.from.name ? headerText(envelope.from.name, 80).replace(/"/g, "'") : undefined;
  message.setSender(name ? { name, addr: from } : { addr: from });
  message.setRecipient(to);
  message.setSubject(headerText(`[Policy API] ${content.title}`, MAX_SUBJECT_CHARS));
  message.addMessage({ contentType: "text/plain", data: notificationText(content) });
  message.addMessage({ contentType: "text/html", data: htmlBody(content) });
  return { from, to, raw: message.asRaw() };
}

/**
 * Hands a built message to Cloudflare's send_email binding. The module is loaded here, not at the top:
 * only the Workers runtime has it, and Node (the scripts, the unit tests of the builder) never sends.
 */
export async function sendBuiltEmail(
  binding: { send(message: EmailMessage): Promise<unknown> },
  email: BuiltEmail,
): Promise<{ messageId?: string }> {
  const { EmailMessage } = await import("cloudflare:email");
  const sent: unknown = await binding.send(new EmailMessage(email.from, email.to, email.raw));
  return typeof sent === "object" && sent !== null ? (sent as { messageId?: string }) : {};
}
