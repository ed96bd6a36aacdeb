// Web Push as a notification channel (issue 31), through the console routes and the real queue
// consumer, against the test receiver standing in for a push service (node:http on loopback): an
// approver turns push on for its own principal only (the form cannot name another, another's endpoint
// is not taken over, nor removed), an agent key cannot subscribe, endpoints pass the webhook URL rules
// (no SSRF), a request that needs the approver becomes a `push` delivery sent encrypted (aes128gcm) with
// a VAPID token for the push service's origin, 410 removes the subscription, 500 retries with backoff.
// The payload's decryption by an independent implementation is test/node/web-push.test.ts.
import { decodeJwt, decodeProtectedHeader } from "jose";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { form, signIn } from "./helpers/console.ts";
import { testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { consumeDeliveries, recordingQueue } from "./helpers/queue.ts";

const RECEIVER = inject("webhookReceiverUrl");
const RUN = crypto.randomUUID().slice(0, 8);
const TENANT = `push-${RUN}`;
const hookPath = (scenario: string, name: string) => `/hooks/${scenario}/${name}-${RUN}`;

function base64Url(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** A browser's subscription keys (what pushManager.subscribe hands the page). */
async function browserKeys() {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ])) as { publicKey: CryptoKey; privateKey: CryptoKey };
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  return {
    p256dh: base64Url(raw as ArrayBuffer),
    auth: base64Url(crypto.getRandomValues(new Uint8Array(16)).buffer),
  };
}

let vapid: { VAPID_PUBLIC_KEY: string; VAPID_PRIVATE_KEY: string };
let queue: ReturnType<typeof recordingQueue>;
let env: Record<string, unknown>;
let agent: TestKey;
let alice: TestKey;
let bob: TestKey;

beforeAll(async () => {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])) as {
    publicKey: CryptoKey;
    privateKey: CryptoKey;
  };
  const jwk = (await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey;
  vapid = {
    VAPID_PUBLIC_KEY: base64Url((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer),
    VAPID_PRIVATE_KEY: jwk.d ?? "",
  };
  queue = recordingQueue();
  env = { ...vapid, ALLOW_INSECURE_WEBHOOKS: "true", WEBHOOK_QUEUE: queue.binding };
  agent = await createTestKey("agent", { tenantId: TENANT });
  alice = await createTestKey("approver", { principalId: `alice-${RUN}`, tenantId: TENANT, maxLevel: 5 });
  bob = await createTestKey("approver", { principalId: `bob-${RUN}`, tenantId: TENANT, maxLevel: 5 });
});

async function subscribe(
  session: { cookie: string; csrf: string },
  endpoint: string,
  extra: Record<string, string> = {},
  overrides: Record<string, unknown> = env,
) {
  const keys = await browserKeys();
  return call(
    "/console/push/subscriptions",
    form({ _csrf: session.csrf, endpoint, ...keys, ...extra }, session.cookie),
    overrides,
  );
}

/** Files a request that waits for approval in the tenant, with this file's env (queue, VAPID keys). */
async function fileRequest(): Promise<string> {
  const res = await postJson(
    "/api/v1/policy/requests",
    {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: TENANT,
      payload: { amount: 120 },
      requested_by: agent.principalId,
    },
    agent.headers,
    env,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as { request_id: string; status: string };
  expect(body.status).toBe("pending");
  return body.request_id;
}

async function subscriptionRows(principalId: string) {
  return (await testSql().query(
    "SELECT id::int AS id, endpoint, last_success_at, last_failure_at FROM push_subscriptions WHERE principal_id = $1 ORDER BY id",
    [principalId],
  )) as { id: number; endpoint: string; last_success_at: Date | null; last_failure_at: Date | null }[];
}

async function pushDeliveries(requestId: string) {
  return (await testSql().query(
    "SELECT id::int AS id, recipient_id, push_subscription_id::int AS push_subscription_id, status FROM webhook_outbox WHERE request_id = $1 AND channel = 'push' ORDER BY id",
    [requestId],
  )) as { id: number; recipient_id: string; push_subscription_id: number; status: string }[];
}

async function received(path: string) {
  const res = await fetch(`${RECEIVER}/_received?path=${encodeURIComponent(path)}`);
  return (await res.json()) as { headers: Record<string, string>; body: string; status: number }[];
}

describe("push subscriptions in the console", () => {
  it("saves the signed-in approver's subscription, never one for a principal the form names", async () => {
    const session = await signIn(alice);
    const endpoint = `${RECEIVER}${hookPath("ok", "alice")}`;
    const res = await subscribe(session, endpoint, { principal_id: bob.principalId });
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toBe("/console/push");
    expect((await subscriptionRows(alice.principalId)).map((row) => row.endpoint)).toEqual([endpoint]);
    expect(await subscriptionRows(bob.principalId)).toEqual([]);
    const page = await call("/console/push", { headers: { Cookie: session.cookie } }, env);
    const html = await page.text();
    expect(html).toContain(`data-push-key="${vapid.VAPID_PUBLIC_KEY}"`);
    // The endpoint's path is the browser's capability URL: only the push service's host is shown.
    expect(html).toContain(new URL(RECEIVER).host);
    expect(html).not.toContain(hookPath("ok", "alice"));
  });

  it("does not let another approver take over or remove that subscription", async () => {
    const [row] = await subscriptionRows(alice.principalId);
    const bobSession = await signIn(bob);
    const taken = await subscribe(bobSession, row?.endpoint ?? "");
    expect(taken.status).toBe(403);
    expect(await taken.text()).toContain("another principal");
    const removed = await call(
      `/console/push/subscriptions/${row?.id}/remove`,
      form({ _csrf: bobSession.csrf }, bobSession.cookie),
      env,
    );
    expect(removed.status).toBe(404);
    expect(await subscriptionRows(alice.principalId)).toHaveLength(1);
  });

  it("refuses an agent key, a post without the CSRF token, and push when it is not configured", async () => {
    // An agent key gets no console session at all, so it cannot reach the push routes; without a
    // session they answer 401 (the service refuses non-deciding keys besides).
    const agentLogin = await call("/console/login", form({ api_key: agent.token }));
    expect(agentLogin.status).not.toBe(303);
    expect(agentLogin.headers.get("Set-Cookie") ?? "").not.toMatch(/policy_console=/);
    const keys = await browserKeys();
    const sessionless = await call(
      "/console/push/subscriptions",
      form({ endpoint: `${RECEIVER}${hookPath("ok", "agent")}`, ...keys }),
      env,
    );
    expect(sessionless.status).toBe(401);
    const bearer = await call(
      "/console/push/subscriptions",
      {
        ...form({ endpoint: `${RECEIVER}${hookPath("ok", "agent")}`, ...keys }),
        headers: {
          ...form({}).headers,
          Authorization: agent.headers.Authorization,
        },
      },
      env,
    );
    expect(bearer.status).toBe(401);
    const session = await signIn(alice);
    const noCsrf = await subscribe({ ...session, csrf: "forged" }, `${RECEIVER}${hookPath("ok", "csrf")}`);
    expect(noCsrf.status).toBe(403);
    const unconfigured = await subscribe(
      session,
      `${RECEIVER}${hookPath("ok", "nokey")}`,
      {},
      {
        ALLOW_INSECURE_WEBHOOKS: "true",
      },
    );
    expect(unconfigured.status).toBe(400);
    expect(await subscriptionRows(alice.principalId)).toHaveLength(1);
  });

  it("refuses endpoints that could aim the sender inside the network, and broken keys", async () => {
    const session = await signIn(alice);
    const strict = { ...vapid, ALLOW_INSECURE_WEBHOOKS: "false" };
    for (const endpoint of [
      `${RECEIVER}${hookPath("ok", "plain-http")}`,
      "https://127.0.0.1/push",
      "https://169.254.169.254/latest/meta-data/",
      "https://10.0.0.1/push",
      "https://localhost/push",
      "javascript:alert(1)",
      "",
    ]) {
      const res = await subscribe(session, endpoint, {}, strict);
      expect(res.status, endpoint).toBe(400);
    }
    const broken = await call(
      "/console/push/subscriptions",
      form(
        { _csrf: session.csrf, endpoint: "https://push.example.net/x", p256dh: "AAAA", auth: "AAAA" },
        session.cookie,
      ),
      strict,
    );
    expect(broken.status).toBe(400);
    expect(await subscriptionRows(alice.principalId)).toHaveLength(1);
  });
});

describe("push deliveries", () => {
  it("sends a request that needs the approver to each of its browsers, encrypted, with a VAPID token", async () => {
    queue.clear();
    const id = await fileRequest();
    const deliveries = await pushDeliveries(id);
    expect(deliveries.map((d) => d.recipient_id)).toEqual([alice.principalId]);
    const consumed = await consumeDeliveries(
      deliveries.map((d) => d.id),
      { env: env as never },
    );
    expect(consumed.acked).toEqual(deliveries.map((d) => d.id));
    const [push] = (await received(hookPath("ok", "alice"))).slice(-1);
    expect(push?.headers["content-encoding"]).toBe("aes128gcm");
    expect(Number(push?.headers.ttl)).toBeGreaterThanOrEqual(60);
    const authorization = /^vapid t=([^,]+), k=(.+)$/.exec(push?.headers.authorization ?? "");
    expect(authorization?.[2]).toBe(vapid.VAPID_PUBLIC_KEY);
    const token = authorization?.[1] ?? "";
    expect(decodeProtectedHeader(token).alg).toBe("ES256");
    expect(decodeJwt(token).aud).toBe(new URL(RECEIVER).origin);
    // Encrypted: nothing of the request shows in the body.
    expect(push?.body).not.toContain(id);
    expect(push?.body).not.toContain("payments");
    expect((await subscriptionRows(alice.principalId))[0]?.last_success_at).not.toBeNull();
  });

  it("removes a subscription the push service says is gone (410), and retries a 500", async () => {
    const session = await signIn(bob);
    expect((await subscribe(session, `${RECEIVER}${hookPath("410", "bob")}`)).status).toBe(303);
    expect((await subscribe(session, `${RECEIVER}${hookPath("always-500", "bob")}`)).status).toBe(303);
    const id = await fileRequest();
    const deliveries = (await pushDeliveries(id)).filter((d) => d.recipient_id === bob.principalId);
    expect(deliveries).toHaveLength(2);
    const rows = await subscriptionRows(bob.principalId);
    const gone = rows.find((row) => row.endpoint.includes("/410/"));
    const failing = rows.find((row) => row.endpoint.includes("/always-500/"));
    const goneDelivery = deliveries.find((d) => d.push_subscription_id === gone?.id)?.id ?? 0;
    const failingDelivery = deliveries.find((d) => d.push_subscription_id === failing?.id)?.id ?? 0;
    const consumed = await consumeDeliveries([goneDelivery, failingDelivery], { env: env as never });
    expect(consumed.acked).toEqual([goneDelivery]);
    expect(consumed.retried.get(failingDelivery)).toBeGreaterThan(0);
    const after = await subscriptionRows(bob.principalId);
    expect(after.map((row) => row.id)).toEqual([failing?.id]);
    expect(after[0]?.last_failure_at).not.toBeNull();
    const statuses = Object.fromEntries((await pushDeliveries(id)).map((d) => [d.id, d.status]));
    expect(statuses[goneDelivery]).toBe("failed");
    expect(statuses[failingDelivery]).toBe("pending");
    // A later delivery to the removed subscription is skipped, not sent.
    expect((await received(hookPath("410", "bob"))).length).toBe(1);
  });

  it("tells no one's browser of a decided request, and never the requester's", async () => {
    const id = await fileRequest();
    const res = await call(
      `/api/v1/policy/requests/${id}/approve`,
      {
        method: "POST",
        headers: { ...alice.headers, "Content-Type": "application/json" },
        body: '{"notes":"ok"}',
      },
      env,
    );
    expect(res.status).toBeLessThan(500);
    const kinds = (await testSql().query(
      "SELECT DISTINCT notification_kind FROM webhook_outbox WHERE request_id = $1 AND channel = 'push'",
      [id],
    )) as { notification_kind: string }[];
    expect(kinds.map((k) => k.notification_kind)).toEqual(["approval_needed"]);
  });
});
