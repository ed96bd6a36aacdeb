// Issue 23, what a webhook says about who sent it and what it reveals: request secrets that cannot
// sign are refused at filing (REST and MCP alike); the documented verification works for both secret
// forms against real deliveries; event ids reveal nothing of other tenants' volume and stay stable
// across retries and redelivery; and requests without a secret of their own are signed with their
// tenant's key, so one tenant's key verifies (or forges) nothing of another's.
//
// Deliveries go to the real receiver on loopback (test/setup/webhook-receiver.ts), sent by the
// worker's real queue() consumer, and are verified with the `standardwebhooks` package.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { callTool, connectMcp } from "./helpers/mcp.ts";
import { type RecordingQueue, recordingQueue } from "./helpers/queue.ts";

const REQUESTS = "/api/v1/policy/requests";
const RECEIVER = inject("webhookReceiverUrl");
/** Keeps this run's receiver paths apart from any earlier run against the same receiver. */
const RUN = crypto.randomUUID().slice(0, 8);
/** Plain http to 127.0.0.1 is allowed only with this (development, and these tests). */
const INSECURE = { ALLOW_INSECURE_WEBHOOKS: "true" } as const;

let agent: TestKey;
const clients: Client[] = [];

beforeAll(async () => {
  agent = await createTestKey("agent", { principalId: "ident-bot" });
});

afterAll(async () => {
  for (const client of clients) await client.close();
});

const hookUrl = (scenario: string, name: string) => `${RECEIVER}/hooks/${scenario}/${name}-${RUN}`;
const base64 = (bytes: number, fill = 7) => btoa(String.fromCharCode(...new Uint8Array(bytes).fill(fill)));

/** Files a request through REST; answers the raw response. */
function fileRest(fields: Record<string, unknown>, queue: RecordingQueue = recordingQueue()) {
  return call(
    REQUESTS,
    {
      method: "POST",
      headers: { ...agent.headers, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: "ident-tenant",
        requested_by: agent.principalId,
        ...fields,
      }),
    },
    { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
  );
}

describe("finding 8: a whsec_ request secret that cannot sign", () => {
  const malformed: [string, string][] = [
    ["not base64 at all", `whsec_${"!".repeat(32)}`],
    ["base64 of 16 bytes (too short a key)", `whsec_${base64(16)}`],
    ["base64url characters", `whsec_${base64(32).slice(0, -4)}-_-_`],
    ["unpadded base64", `whsec_${base64(32, 9).replace(/=+$/, "")}`],
    ["non-canonical trailing bits", `whsec_${base64(32).slice(0, -2)}B=`],
    ["nothing after the prefix but padding", "whsec_================"],
  ];

  it("is refused at filing through REST: 400 naming webhook_secret, nothing filed", async () => {
    for (const [name, secret] of malformed) {
      const queue = recordingQueue();
      const res = await fileRest({ webhook_url: hookUrl("ok", "malformed"), webhook_secret: secret }, queue);
      const body = (await res.json()) as ErrorEnvelope;
      expect(res.status, `${name}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.error.details, name).toMatchObject({
        issues: [{ path: "webhook_secret", message: expect.stringContaining("at least 24 bytes") }],
      });
      expect(queue.ids(), name).toEqual([]);
    }
  });

  it("is refused by MCP request_approval the same way", async () => {
    const client = await connectMcp(agent.token);
    clients.push(client);
    for (const [name, secret] of malformed) {
      const answer = await callTool(client, "request_approval", {
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: "ident-tenant",
        requested_by: agent.principalId,
        webhook_url: "https://hooks.acme-receiver.com/policy",
        webhook_secret: secret,
        idempotency_key: `idem-${crypto.randomUUID()}`,
      });
      expect(answer, name).toMatchObject({ isError: true, code: "validation_failed" });
      const issues = (answer.structured as { error: { details: { issues: { path: string }[] } } }).error
        .details.issues;
      expect(
        issues.map((issue) => issue.path),
        name,
      ).toEqual(["webhook_secret"]);
    }
  });

  it("while a well-formed whsec_ secret and a plain secret are filed", async () => {
    for (const secret of [`whsec_${base64(24)}`, `whsec_${base64(32)}`, "a-plain-shared-secret-0123"]) {
      const res = await fileRest({ webhook_url: hookUrl("ok", "well-formed"), webhook_secret: secret });
      expect(res.status, `${secret.slice(0, 8)}: ${await res.clone().text()}`).toBe(200);
    }
  });
});
