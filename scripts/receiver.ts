// npm run receiver: a webhook receiver for local development. Prints every delivery that arrives
// (event, request, sequence) and whether its signatures verify: the event's tenant key, derived from
// the service key in .data/dev-secrets.json as `npm run dev` derives it, or --secret for a request's
// own secret.
//
//   npm run receiver                       listen on 127.0.0.1:8787, answer 200
//   npm run receiver -- --fail 2           answer 500 to the first 2 deliveries (watch the retries)
//   npm run receiver -- --secret <secret>  verify requests filed with this webhook_secret
//
// File a request with "webhook_url": "http://127.0.0.1:8787/hooks" (npm run dev allows local http).
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  keyBytes,
  parseSigningSecrets,
  type SigningKey,
  tenantSigningKeys,
} from "../src/domain/webhook-signing.ts";
import { LOCAL } from "./lib/local-stack.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.RECEIVER_PORT ?? "8787" },
    fail: { type: "string", default: "0" },
    secret: { type: "string" },
  },
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

async function verify(
  headers: Record<string, string | string[] | undefined>,
  body: string,
  tenantId: unknown,
): Promise<string> {
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
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  const expected = hmac(key.bytes, signed);
  const standardOk = String(headers["webhook-signature"] ?? "")
    .split(" ")
    .some((entry) => entry.startsWith("v1,") && same(Buffer.from(entry.slice(3), "base64"), expected));
  const whose =
    version === "request" ? "the request's secret" : `tenant ${String(tenantId)}'s key ${version}`;
  return `X-Webhook-Signature ${legacyOk ? "ok" : "BAD"}, webhook-signature ${standardOk ? "ok" : "BAD"} (${whose})`;
}

let toFail = Number(values.fail);
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
    console.log(
      `${new Date().toISOString()} ${req.method} ${req.url} → ${status}  ${event.event ?? "?"} ${event.request_id ?? ""} #${event.sequence ?? "?"} status=${event.status ?? "?"}\n    ${await verify(req.headers, body, event.tenant_id)}`,
    );
    res.writeHead(status, { "Content-Type": "text/plain" }).end(status === 200 ? "ok" : "failing on purpose");
  });
});
server.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`webhook receiver on http://127.0.0.1:${values.port}/hooks (Ctrl-C to stop)`);
});
