// Issue 23, what a webhook says about who sent it and what it reveals: request secrets that cannot
// sign are refused at filing (REST and MCP alike); the documented verification works for both secret
// forms against real deliveries; event ids reveal nothing of other tenants' volume and stay stable
// across retries and redelivery; and requests without a secret of their own are signed with their
// tenant's key, so one tenant's key verifies (or forges) nothing of another's.
//
// Deliveries go to the real receiver on loopback (test/setup/webhook-receiver.ts), sent by the
// worker's real queue() consumer, and are verified with the `standardwebhooks` package.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import apiDoc from "../docs/API.md?raw";
import { webhookEventId } from "../src/domain/ids.ts";
import { testEnv } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { callTool, connectMcp } from "./helpers/mcp.ts";
import { consumeDeliveries, type RecordingQueue, recordingQueue } from "./helpers/queue.ts";

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

/** What the receiver recorded for one path (test/setup/webhook-receiver.ts), oldest first. */
async function received(path: string): Promise<{ headers: Record<string, string>; body: string }[]> {
  const res = await fetch(`${RECEIVER}/_received?path=${encodeURIComponent(path)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { headers: Record<string, string>; body: string }[];
}

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

describe("finding 11: the documented verification, for both forms of request secret", () => {
  /** The verifier docs/API.md tells receivers to build for a request's own secret (held equal below). */
  const documentedVerifier = (secret: string) =>
    secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(secret, { format: "raw" });
  const DOCUMENTED_LINE =
    'const verifier = secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(secret, { format: "raw" });';

  it("is what docs/API.md says, and nothing there says raw for every request secret", () => {
    expect(apiDoc).toContain(DOCUMENTED_LINE);
    expect(apiDoc).not.toMatch(/verify\s+with\s+`new Webhook\(secret, \{ format: "raw" \}\)`/);
  });

  it("verifies real deliveries signed with a plain secret and with a whsec_ secret", async () => {
    const secrets = {
      plain: "a-plain-request-secret-0123456789",
      whsec: `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`,
    };
    for (const [form, secret] of Object.entries(secrets)) {
      const queue = recordingQueue();
      const res = await fileRest(
        { webhook_url: hookUrl("ok", `verify-${form}`), webhook_secret: secret },
        queue,
      );
      expect(res.status, await res.clone().text()).toBe(200);
      const ids = queue.ids();
      expect(ids).toHaveLength(1);
      expect((await consumeDeliveries(ids, { env: INSECURE })).acked).toEqual(ids);
      const [delivery, ...more] = await received(`/hooks/ok/verify-${form}-${RUN}`);
      expect(more).toEqual([]);
      if (!delivery) throw new Error("nothing received");
      expect(delivery.headers["x-webhook-key-version"]).toBe("request");
      const event = documentedVerifier(secret).verify(delivery.body, delivery.headers) as { event: string };
      expect(event.event, form).toBe("approval_request_created");
      // A changed body, or another secret of the same form, does not verify.
      expect(() =>
        documentedVerifier(secret).verify(delivery.body.replace("created", "Created"), delivery.headers),
      ).toThrow();
      const other = form === "plain" ? "another-plain-secret-0123456789" : `whsec_${btoa("x".repeat(32))}`;
      expect(() => documentedVerifier(other).verify(delivery.body, delivery.headers)).toThrow();
      if (form === "whsec") {
        // What the docs used to say for every request secret: raw bytes of "whsec_…" are not the key.
        expect(() =>
          new Webhook(secret, { format: "raw" }).verify(delivery.body, delivery.headers),
        ).toThrow();
      }
    }
  });
});

describe("finding 10: event ids and sequence reveal nothing of other tenants", () => {
  interface Event {
    event: string;
    event_id: string;
    sequence: number;
    request_id: string;
  }

  async function fileIn(tenant: string, url: string): Promise<{ requestId: string; deliveryId: number }> {
    const queue = recordingQueue();
    const res = await fileRest({ tenant_id: tenant, webhook_url: url }, queue);
    expect(res.status, await res.clone().text()).toBe(200);
    const [deliveryId] = queue.ids();
    if (deliveryId === undefined) throw new Error("nothing enqueued");
    return { requestId: ((await res.json()) as { request_id: string }).request_id, deliveryId };
  }

  it("a receiver of tenant A cannot count tenant B's events between two of its own", async () => {
    const approver = await createTestKey("approver", { principalId: "ident-approver", maxLevel: 3 });
    const path = `/hooks/ok/volume-a-${RUN}`;
    const mine = await fileIn("ident-a", `${RECEIVER}${path}`);
    // Tenant B's traffic in between: five filings, each an event of the global outbox.
    const theirs: number[] = [];
    for (let i = 0; i < 5; i++)
      theirs.push((await fileIn("ident-b", hookUrl("ok", `volume-b${i}`))).deliveryId);
    const queue = recordingQueue();
    const approved = await call(
      `${REQUESTS}/${mine.requestId}/approve`,
      { method: "POST", headers: { ...approver.headers, "Content-Type": "application/json" }, body: "{}" },
      { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
    );
    expect(approved.status).toBe(200);
    const ids = [mine.deliveryId, ...queue.ids()];
    expect((await consumeDeliveries([...ids, ...theirs], { env: INSECURE })).acked).toHaveLength(7);

    const got = await received(path);
    const events = got.map((entry) => JSON.parse(entry.body) as Event);
    expect(events.map((event) => event.event).sort()).toEqual([
      "approval_request_approved",
      "approval_request_created",
    ]);
    const ordered = [...events].sort((a, b) => a.sequence - b.sequence);
    // Per request: 1, then 2, however many events other tenants had in between.
    expect(ordered.map((event) => [event.event, event.sequence])).toEqual([
      ["approval_request_created", 1],
      ["approval_request_approved", 2],
    ]);
    for (const [index, entry] of got.entries()) {
      const event = events[index] as Event;
      expect(entry.headers["webhook-id"]).toBe(event.event_id);
      // Nothing global in the id: the request's own id and the event's place in it.
      expect(event.event_id).toBe(webhookEventId(mine.requestId, event.sequence));
      expect(event.event_id).not.toMatch(/^evt_\d+$/);
    }
    // The API lists the same ids, and the sequence, for the request's deliveries.
    const listed = (await (
      await call(`${REQUESTS}/${mine.requestId}/webhooks`, { headers: agent.headers })
    ).json()) as { event_id: string; sequence: number }[];
    expect(listed.map((delivery) => [delivery.event_id, delivery.sequence])).toEqual(
      ordered.map((event) => [event.event_id, event.sequence]),
    );
  });

  it("is the same on every retry and on redelivery", async () => {
    const retried = await fileIn("ident-a", hookUrl("fail-then-ok-1", "retry-id"));
    expect((await consumeDeliveries([retried.deliveryId], { env: INSECURE })).retried.size).toBe(1);
    expect((await consumeDeliveries([retried.deliveryId], { attempts: 2, env: INSECURE })).acked).toEqual([
      retried.deliveryId,
    ]);
    const tries = await received(`/hooks/fail-then-ok-1/retry-id-${RUN}`);
    expect(tries.map((entry) => entry.headers["webhook-id"])).toEqual([
      webhookEventId(retried.requestId, 1),
      webhookEventId(retried.requestId, 1),
    ]);

    const refused = await fileIn("ident-a", hookUrl("404", "redeliver-id"));
    expect((await consumeDeliveries([refused.deliveryId], { env: INSECURE })).acked).toEqual([
      refused.deliveryId,
    ]);
    const admin = await createTestKey("admin", { principalId: "ident-admin" });
    const queue = recordingQueue();
    const res = await call(
      `${REQUESTS}/${refused.requestId}/webhooks/redeliver`,
      { method: "POST", headers: admin.headers },
      { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
    );
    expect(res.status).toBe(200);
    expect((await consumeDeliveries(queue.ids(), { env: INSECURE })).acked).toEqual([refused.deliveryId]);
    const sent = await received(`/hooks/404/redeliver-id-${RUN}`);
    expect(sent).toHaveLength(2);
    expect(new Set(sent.map((entry) => entry.headers["webhook-id"]))).toEqual(
      new Set([webhookEventId(refused.requestId, 1)]),
    );
    expect(new Set(sent.map((entry) => entry.body)).size).toBe(1);
  });
});

describe("decision: each tenant's webhooks are signed with a key of its own", () => {
  const KEY_PATH = "/api/v1/admin/webhooks/signing-key";
  interface TenantKeys {
    tenant_id: string;
    keys: { version: string; secret: string }[];
  }

  async function keysOf(who: TestKey, tenant?: string): Promise<TenantKeys> {
    const res = await call(tenant ? `${KEY_PATH}?tenant_id=${tenant}` : KEY_PATH, { headers: who.headers });
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as TenantKeys;
  }

  async function hmacHex(secret: string, text: string): Promise<string> {
    const bytes = Uint8Array.from(atob(secret.slice("whsec_".length)), (char) => char.charCodeAt(0));
    const key = await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(text)));
    return [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  it("a delivery of tenant A verifies under A's key only: not B's, not the shared service key", async () => {
    const agentA = await createTestKey("agent", { principalId: "ident-a-bot", tenantId: "ident-ta" });
    const path = `/hooks/ok/tenant-key-${RUN}`;
    const queue = recordingQueue();
    const filed = await call(
      REQUESTS,
      {
        method: "POST",
        headers: { ...agentA.headers, "Content-Type": "application/json" },
        body: JSON.stringify({
          policy_type: "cost",
          skill_id: "payments.transfer",
          tenant_id: "ident-ta",
          requested_by: agentA.principalId,
          webhook_url: `${RECEIVER}${path}`,
        }),
      },
      { ...INSECURE, WEBHOOK_QUEUE: queue.binding },
    );
    expect(filed.status).toBe(200);
    expect((await consumeDeliveries(queue.ids(), { env: INSECURE })).acked).toEqual(queue.ids());
    const [delivery] = await received(path);
    if (!delivery) throw new Error("nothing received");

    const admin = await createTestKey("admin", { principalId: "ident-keys-admin" });
    const a = await keysOf(admin, "ident-ta");
    const b = await keysOf(admin, "ident-tb");
    expect(a.tenant_id).toBe("ident-ta");
    expect(b.tenant_id).toBe("ident-tb");
    // One key per service key version, current first: "2", then "1" in its grace period.
    expect(a.keys.map((key) => key.version)).toEqual(["2", "1"]);
    expect(delivery.headers["x-webhook-key-version"]).toBe("2");
    for (const key of a.keys) {
      expect(key.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(new Webhook(key.secret).verify(delivery.body, delivery.headers)).toMatchObject({
        tenant_id: "ident-ta",
      });
    }
    expect(delivery.headers["x-webhook-signature"]).toBe(
      `sha256=${await hmacHex(a.keys[0]?.secret ?? "", delivery.body)}`,
    );
    // Tenant B's key verifies none of it, and neither does the service key all tenants used to share.
    for (const key of b.keys)
      expect(() => new Webhook(key.secret).verify(delivery.body, delivery.headers)).toThrow();
    for (const entry of String(testEnv().WEBHOOK_SIGNING_SECRETS).split(",")) {
      const service = entry.slice(entry.indexOf(":") + 1);
      expect(() => new Webhook(service).verify(delivery.body, delivery.headers)).toThrow();
      expect(delivery.headers["x-webhook-signature"]).not.toBe(
        `sha256=${await hmacHex(service, delivery.body)}`,
      );
    }
    // A key of B cannot be turned into A's: A's and B's keys differ at every version.
    expect(
      a.keys.map((key) => key.secret).filter((secret) => b.keys.some((other) => other.secret === secret)),
    ).toEqual([]);
  });

  it("is published to admins only: an agent or approver holding it could forge approvals to its peers", async () => {
    const agentA = await createTestKey("agent", { principalId: "ident-a-bot2", tenantId: "ident-ta" });
    const approverA = await createTestKey("approver", { principalId: "ident-a-appr", tenantId: "ident-ta" });
    const admin = await createTestKey("admin", { principalId: "ident-key-admin" });

    // An agent of the tenant, for its own tenant or another: refused, and no key in the answer.
    for (const path of [KEY_PATH, `${KEY_PATH}?tenant_id=ident-ta`, `${KEY_PATH}?tenant_id=ident-tb`]) {
      const refused = await call(path, { headers: agentA.headers });
      expect(refused.status, path).toBe(403);
      expect(JSON.stringify(await refused.json())).not.toContain("whsec_");
    }
    // Approvers decide requests; with the key they could forge an "approved" event to the agent.
    expect((await call(`${KEY_PATH}?tenant_id=ident-ta`, { headers: approverA.headers })).status).toBe(403);
    expect((await call(KEY_PATH)).status).toBe(401);
    // An admin acts for every tenant, so it must say which; each tenant's keys are its own.
    const unnamed = await call(KEY_PATH, { headers: admin.headers });
    expect(unnamed.status).toBe(400);
    expect(((await unnamed.json()) as ErrorEnvelope).error.details).toMatchObject({
      issues: [{ path: "tenant_id" }],
    });
    const a = await keysOf(admin, "ident-ta");
    const b = await keysOf(admin, "ident-tb");
    expect(a.tenant_id).toBe("ident-ta");
    expect(a.keys.map((key) => key.secret)).not.toEqual(b.keys.map((key) => key.secret));
    expect(
      (await call(`${KEY_PATH}?tenant_id=${encodeURIComponent("a b")}`, { headers: admin.headers })).status,
    ).toBe(400);
  });
});
