// npm run receiver: a webhook receiver for local development. Prints every delivery that arrives, on
// any path, and whether its signatures verify:
//
// - a request's webhook event (event, request, sequence), verified with the event's tenant key, derived
//   from the service key in .data/dev-secrets.json as `npm run dev` derives it, or --secret for a
//   request's own secret;
// - a notification (issue 25) a contact point sends: a Microsoft Teams card (title, facts, link), a
//   Google Chat card (cardsV2) or the signed approver webhook ("approval.notification": kind, headline,
//   link), verified with --contact-secret (the contact point's whsec_ secret).
//
//   npm run receiver                       listen on 127.0.0.1:8787, answer 200
//   npm run receiver -- --port 9000        listen elsewhere (or RECEIVER_PORT=9000)
//   npm run receiver -- --fail 2           answer 500 to the first 2 deliveries (watch the retries)
//   npm run receiver -- --secret <secret>  verify requests filed with this webhook_secret
//   npm run receiver -- --contact-secret whsec_...  verify the approver webhook of a contact point
//                                          (or RECEIVER_CONTACT_SECRET=whsec_..., out of `ps`)
//
// File a request with "webhook_url": "http://127.0.0.1:8787/hooks" (npm run dev allows local http);
// `npm run dev` points tenant demo's Teams card at http://127.0.0.1:8787/cards/teams.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import {
  keyBytes,
  parseSigningSecrets,
  type SigningKey,
  tenantSigningKeys,
} from "../src/domain/webhook-signing.ts";
import { parseOrExit, usageExit } from "./lib/cli.ts";
import { LOCAL } from "./lib/local-stack.ts";

const USAGE = `usage: npm run receiver -- [--port N] [--fail N] [--secret S] [--contact-secret whsec_...]
  prints every webhook and chat card that arrives, on any path, and whether its signatures verify
  --port N              listen on 127.0.0.1:N (default RECEIVER_PORT or 8787)
  --fail N              answer 500 to the first N deliveries (watch the retries)
  --secret S            verify requests filed with this webhook_secret
  --contact-secret S    verify a contact point's approver webhook (or RECEIVER_CONTACT_SECRET, out of ps)
  File a request with "webhook_url": "http://127.0.0.1:8787/hooks"; \`npm run dev\` points tenant demo's
  Teams card at http://127.0.0.1:8787/cards/teams.`;

const { values } = parseOrExit({ name: "npm run receiver", usage: USAGE }, process.argv.slice(2), {
  port: { type: "string", default: process.env.RECEIVER_PORT ?? "8787" },
  fail: { type: "string", default: "0" },
  secret: { type: "string" },
  // The environment keeps the secret out of `ps` and shell history.
  "contact-secret": { type: "string", default: process.env.RECEIVER_CONTACT_SECRET },
});

function serviceKeys(): SigningKey[] {
  try {
    const file = path.join(path.dirname(LOCAL.dataDir), "dev-secrets.json");
    return parseSigningSecrets(
      (JSON.parse(readFileSync(file, "utf8")) as { WEBHOOK_SIGNING_SECRETS?: string })
        .WEBHOOK_SIGNING_SECRETS,
    );
  } catch {
    return [];
  }
}

const hmac = (key: Uint8Array, text: string) => createHmac("sha256", key).update(text).digest();
const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

type Headers = Record<string, string | string[] | undefined>;

/** Standard Webhooks: a v1 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" among the signatures. */
function standardSignatureOk(headers: Headers, body: string, key: Uint8Array): boolean {
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  const expected = hmac(key, signed);
  return String(headers["webhook-signature"] ?? "")
    .split(" ")
    .some((entry) => entry.startsWith("v1,") && same(Buffer.from(entry.slice(3), "base64"), expected));
}

async function verify(headers: Headers, body: string, tenantId: unknown): Promise<string> {
  const version = String(headers["x-webhook-key-version"] ?? "");
  const keys =
    version === "request"
      ? values.secret
        ? [{ version, bytes: keyBytes(values.secret) }]
        : []
      : (await tenantSigningKeys(serviceKeys(), String(tenantId))).filter((key) => key.version === version);
  const key = keys[0];
  if (!key)
    return version === "request"
      ? "signed with the request's secret (pass --secret to verify)"
      : `no key ${version}`;
  const legacy = `sha256=${hmac(key.bytes, body).toString("hex")}`;
  const legacyOk = headers["x-webhook-signature"] === legacy;
  const standardOk = standardSignatureOk(headers, body, key.bytes);
  const whose =
    version === "request" ? "the request's secret" : `tenant ${String(tenantId)}'s key ${version}`;
  return `X-Webhook-Signature ${legacyOk ? "ok" : "BAD"}, webhook-signature ${standardOk ? "ok" : "BAD"} (${whose})`;
}

// Notifications (src/domain/notification-cards.ts builds them). Cards escape their text for the
// chat's own rendering (Teams Markdown, Google Chat HTML); the receiver undoes that to print it.

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const list = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);
const str = (value: unknown): string => (typeof value === "string" ? value : "");

function fromTeamsMarkdown(text: string): string {
  return text.replace(/\\(.)/g, "$1").replaceAll("&lt;", "<").replaceAll("&amp;", "&");
}

function fromChatHtml(text: string): string {
  return text
    .replace(/<[^>]*>/g, "")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");
}

/** The lines a notification prints (its kind first), or undefined for anything else (an M5 event). */
function notificationLines(event: Json, headers: Headers, body: string): string[] | undefined {
  const teams = list(event.attachments).find(
    (attachment) => attachment.contentType === "application/vnd.microsoft.card.adaptive",
  );
  if (event.type === "message" && teams && isObject(teams.content)) {
    const blocks = list(teams.content.body);
    const facts = list(blocks.find((block) => block.type === "FactSet")?.facts);
    const open = list(teams.content.actions).find((action) => action.type === "Action.OpenUrl");
    return [
      "Teams card",
      fromTeamsMarkdown(str(blocks[0]?.text)),
      ...facts.map((fact) => `${fromTeamsMarkdown(str(fact.title))}: ${fromTeamsMarkdown(str(fact.value))}`),
      `link: ${str(open?.url)}`,
    ];
  }
  const chat = list(event.cardsV2)[0];
  if (chat && isObject(chat.card)) {
    const header = isObject(chat.card.header) ? chat.card.header : {};
    const widgets = list(chat.card.sections).flatMap((section) => list(section.widgets));
    const facts = widgets.map((widget) => widget.decoratedText).filter(isObject);
    const buttons = widgets
      .map((widget) => widget.buttonList)
      .filter(isObject)
      .flatMap((buttons) => list(buttons.buttons));
    const openLink = buttons.map((button) => button.onClick).filter(isObject)[0]?.openLink;
    return [
      "Google Chat card",
      `${str(header.title)} (${str(header.subtitle)})`,
      ...facts.map((fact) => `${fromChatHtml(str(fact.topLabel))}: ${fromChatHtml(str(fact.text))}`),
      `link: ${isObject(openLink) ? str(openLink.url) : ""}`,
    ];
  }
  if (event.type === "approval.notification" && isObject(event.data)) {
    const secret = values["contact-secret"];
    const verdict = secret
      ? `webhook-signature ${standardSignatureOk(headers, body, keyBytes(secret)) ? "ok" : "BAD"} (--contact-secret), webhook-id ${String(headers["webhook-id"] ?? "?")}`
      : "unverified (pass --contact-secret whsec_... to verify)";
    return [
      `approver webhook ${str(event.data.kind)}`,
      str(event.data.headline),
      `link: ${str(event.data.link)}`,
      verdict,
    ];
  }
  return undefined;
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535)
  usageExit({ name: "npm run receiver", usage: USAGE }, `--port must be a TCP port, got "${values.port}"`);
let toFail = Number(values.fail);
if (!Number.isInteger(toFail) || toFail < 0)
  usageExit({ name: "npm run receiver", usage: USAGE }, `--fail must be a count, got "${values.fail}"`);
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", async () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event: Record<string, unknown> = {};
    try {
      event = JSON.parse(body) as Record<string, unknown>;
    } catch {
      // Printed as received.
    }
    const status = toFail > 0 ? 500 : 200;
    if (toFail > 0) toFail--;
    const line = `${new Date().toISOString()} ${req.method} ${req.url} → ${status}`;
    const card = notificationLines(event, req.headers, body);
    console.log(
      card
        ? [`${line}  ${card[0]}`, ...card.slice(1).map((text) => `    ${text}`)].join("\n")
        : `${line}  ${event.event ?? "?"} ${event.request_id ?? ""} #${event.sequence ?? "?"} status=${event.status ?? "?"}\n    ${await verify(req.headers, body, event.tenant_id)}`,
    );
    res.writeHead(status, { "Content-Type": "text/plain" }).end(status === 200 ? "ok" : "failing on purpose");
  });
});
server.listen(port, "127.0.0.1", () => {
  console.log(`webhook receiver on http://127.0.0.1:${values.port}/hooks (Ctrl-C to stop)`);
  console.log(`notification cards on http://127.0.0.1:${values.port}/cards/... (any path is printed)`);
});
