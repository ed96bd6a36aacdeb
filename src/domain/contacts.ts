// The principal directory's rules (issue 25): what a contact point's target may be on each channel
// (an email address, a Teams or Google Chat incoming-webhook URL, an approver webhook URL), the form it
// is stored and fingerprinted in, and the display form that stands for a URL without its secret parts.
// Pure: the service seals, fingerprints and stores; these functions only judge and shape text.
import type { ContactChannel } from "./vocabulary.ts";
import { MAX_WEBHOOK_URL_LENGTH, webhookUrlProblem } from "./webhook-url.ts";

/** RFC 5321's limit on a forward path (the address as sent). */
export const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_PART_LENGTH = 64;

/** A contact point's webhook secret: Standard Webhooks `whsec_` + base64 of this many random bytes. */
export const MIN_CONTACT_SECRET_BYTES = 24;
export const MAX_CONTACT_SECRET_BYTES = 64;
export const CONTACT_SECRET_RULE = `whsec_ followed by standard base64 (A-Z a-z 0-9 + /, padded with =) of ${MIN_CONTACT_SECRET_BYTES} to ${MAX_CONTACT_SECRET_BYTES} random bytes; or omit it and one is generated`;

// The dot-atom of RFC 5322 (no quoted local parts: nothing sends to them in practice, and quoting is
// where header injection hides). ASCII only: internationalised addresses are refused, not mangled.
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const CONTROL_OR_SPACE = /[\p{Cc}\p{Z}]/u;

/** Teams: classic incoming webhooks (Office 365 connectors) and Power Automate "Workflows" URLs. */
const TEAMS_HOST_SUFFIXES = [".webhook.office.com", ".logic.azure.com", ".environment.api.powerplatform.com"];
const GOOGLE_CHAT_HOST = "chat.googleapis.com";
const GOOGLE_CHAT_PATH = /^\/v1\/spaces\/[A-Za-z0-9_-]{1,128}\/messages$/;

export type TargetCheck =
  | { ok: true; target: string }
  | { ok: false; field: "email" | "url"; reason: string };

/** The address folded (domain in lower case, the local part as written), or why it is refused. */
export function normalizeEmail(raw: string): { ok: true; value: string } | { ok: false; reason: string } {
  const refuse = (reason: string) => ({ ok: false as const, reason });
  if (raw.length > MAX_EMAIL_LENGTH) return refuse(`must be at most ${MAX_EMAIL_LENGTH} characters`);
  if (CONTROL_OR_SPACE.test(raw)) return refuse("must not contain spaces, line breaks or control characters");
  const parts = raw.split("@");
  if (parts.length !== 2) return refuse("must contain exactly one @");
  const [local = "", domain = ""] = parts;
  if (local.length === 0 || local.length > MAX_LOCAL_PART_LENGTH || !LOCAL_PART.test(local)) {
    return refuse(
      `the part before @ must be 1-${MAX_LOCAL_PART_LENGTH} ASCII letters, digits or !#$%&'*+/=?^_\`{|}~.- (no leading, trailing or double dots)`,
    );
  }
  const folded = domain.toLowerCase();
  const labels = folded.split(".");
  if (labels.length < 2 || !labels.every((label) => DOMAIN_LABEL.test(label))) {
    return refuse("the domain must be a name with a dot (ASCII letters, digits and hyphens; IDN as xn--)");
  }
  if (/^\d+$/.test(labels.at(-1) ?? "")) return refuse("the domain must be a name, not an IP address");
  return { ok: true, value: `${local}@${folded}` };
}

/** The URL parsed, https, without credentials, fragment or an explicit port; or why not. */
function chatUrl(raw: string): { ok: true; url: URL } | { ok: false; reason: string } {
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) {
    return { ok: false, reason: `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters` };
  }
  if (CONTROL_OR_SPACE.test(raw))
    return { ok: false, reason: "must not contain spaces or control characters" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "is not a valid URL" };
  }
  if (url.protocol !== "https:") return { ok: false, reason: "must use https" };
  if (url.username || url.password) return { ok: false, reason: "must not carry credentials" };
  if (url.hash) return { ok: false, reason: "must not have a #fragment" };
  if (url.port) return { ok: false, reason: "must not name a port" };
  return { ok: true, url };
}

function teamsProblem(url: URL): string | undefined {
  const host = url.hostname.toLowerCase();
  if (!TEAMS_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix) && host.length > suffix.length)) {
    return `must be a Teams incoming webhook (https://….webhook.office.com/…) or a Power Automate workflow URL (….logic.azure.com, ….environment.api.powerplatform.com)`;
  }
  return undefined;
}

function googleChatProblem(url: URL): string | undefined {
  if (url.hostname.toLowerCase() !== GOOGLE_CHAT_HOST || !GOOGLE_CHAT_PATH.test(url.pathname)) {
    return `must be a Google Chat incoming webhook: https://${GOOGLE_CHAT_HOST}/v1/spaces/<space>/messages?key=…&token=…`;
  }
  if (!url.searchParams.get("key") || !url.searchParams.get("token")) {
    return "must carry the webhook's key and token query parameters";
  }
  return undefined;
}

/**
 * A contact point's target for its channel: `email` for the email channel, `url` for the others, and
 * only that one. Answers the target in the form stored and fingerprinted (the folded address, or the
 * URL as the URL parser writes it), or the field at fault and why. `allowInsecure` is
 * ALLOW_INSECURE_WEBHOOKS (development): it relaxes the destination rules as on filing, and lets a
 * chat channel point anywhere those allow (a local receiver shows the card).
 */
export function checkContactTarget(
  channel: ContactChannel,
  input: { email?: string | undefined; url?: string | undefined },
  allowInsecure: boolean,
): TargetCheck {
  if (channel === "email") {
    if (input.url !== undefined)
      return { ok: false, field: "url", reason: "the email channel takes email, not url" };
    if (input.email === undefined)
      return { ok: false, field: "email", reason: "required for the email channel" };
    const email = normalizeEmail(input.email);
    return email.ok ? { ok: true, target: email.value } : { ok: false, field: "email", reason: email.reason };
  }
  if (input.email !== undefined) {
    return { ok: false, field: "email", reason: `the ${channel} channel takes url, not email` };
  }
  if (input.url === undefined)
    return { ok: false, field: "url", reason: `required for the ${channel} channel` };
  const raw = input.url;
  if (channel === "webhook") {
    if (CONTROL_OR_SPACE.test(raw)) {
      return { ok: false, field: "url", reason: "must not contain spaces or control characters" };
    }
    const problem = webhookUrlProblem(raw, allowInsecure);
    if (problem) return { ok: false, field: "url", reason: problem };
    return { ok: true, target: new URL(raw).href };
  }
  if (allowInsecure && URL.canParse(raw) && /^https?:$/.test(new URL(raw).protocol)) {
    // Development: a chat card may go to a local receiver (`npm run receiver`) to be seen without a
    // Teams or Google Chat account; the approver webhook's relaxed rules apply.
    const problem = CONTROL_OR_SPACE.test(raw)
      ? "must not contain spaces or control characters"
      : webhookUrlProblem(raw, true);
    if (problem) return { ok: false, field: "url", reason: problem };
    return { ok: true, target: new URL(raw).href };
  }
  const parsed = chatUrl(raw);
  if (!parsed.ok) return { ok: false, field: "url", reason: parsed.reason };
  const problem = channel === "teams" ? teamsProblem(parsed.url) : googleChatProblem(parsed.url);
  if (problem) return { ok: false, field: "url", reason: problem };
  return { ok: true, target: parsed.url.href };
}

/**
 * What a contact point shows for its target: the address for email; for a URL, its scheme and host
 * only, since chat and webhook URLs carry their credential in the path or query.
 */
export function contactDisplayAddress(channel: ContactChannel, target: string): string {
  if (channel === "email") return target;
  const url = new URL(target);
  return `${url.protocol}//${url.host}/…`;
}

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why a supplied contact webhook secret is refused, or undefined. */
export function contactSecretProblem(secret: string): string | undefined {
  if (!secret.startsWith("whsec_")) return CONTACT_SECRET_RULE;
  const encoded = secret.slice("whsec_".length);
  if (!STANDARD_BASE64.test(encoded)) return CONTACT_SECRET_RULE;
  const decoded = atob(encoded);
  if (decoded.length < MIN_CONTACT_SECRET_BYTES || decoded.length > MAX_CONTACT_SECRET_BYTES) {
    return CONTACT_SECRET_RULE;
  }
  // Canonical only (no stray bits in the last character), so every Standard Webhooks library reads the same key.
  return btoa(decoded) === encoded ? undefined : CONTACT_SECRET_RULE;
}

/** A new Standard Webhooks secret from random bytes (the caller draws them). */
export function contactSecretFrom(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `whsec_${btoa(binary)}`;
}

/** What the keyed fingerprint of a target is computed over: the channel names its kind. */
export function contactFingerprintText(channel: ContactChannel, target: string): string {
  return `contact-point:v1:${channel}:${target}`;
}
