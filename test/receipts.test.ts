// Approval receipts (issue 27): every final approval (a quorum through the API, policy auto-approval)
// carries exactly one signed receipt, verified here with jose used as an independent verifier against
// the published JWKS and with the project's own verifyReceipt; tampering, another payload, expiry and
// an unknown key are refused; a rotated key keeps verifying its receipts; the redeem is single-use
// under a race and never crosses tenants; webhooks carry the receipt.
import canonicalize from "canonicalize";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { canonicalJson, sha256Hex } from "../src/domain/encoding.ts";
import { verifyReceipt } from "../src/lib/receipt-verify.ts";
import { testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { TEST_RECEIPT_ROTATED_KEY } from "./setup/test-secrets.ts";

const BASE = "/api/v1/policy/requests";

interface Receipt {
  receipt_id: string;
  jws: string;
  kid: string;
  not_after: string;
  redeemed_at: string | null;
}

interface ApprovalRequest {
  request_id: string;
  status: string;
  payload: unknown;
  payload_hash: string;
  receipt?: Receipt;
}

let admin: TestKey;
let agent: TestKey;
let carol: TestKey;
let dave: TestKey;

const newTenant = () => `rc-${crypto.randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent", { principalId: `rc-bot-${crypto.randomUUID().slice(0, 6)}` });
  carol = await createTestKey("approver", { principalId: "rc-carol", maxLevel: 4 });
  dave = await createTestKey("approver", { principalId: "rc-dave", maxLevel: 5 });
});

async function withPolicy(tenant: string, body: Record<string, unknown>) {
  const res = await postJson(
    "/api/v1/admin/policies/approval-levels",
    { policy_type: "cost", tenant_id: tenant, ...body },
    admin.headers,
  );
  expect(res.status, await res.clone().text()).toBe(201);
}

async function file(tenant: string, payload: unknown = { amount: 120, to: "acct-9" }, env = {}) {
  const res = await call(
    BASE,
    {
      method: "POST",
      headers: { ...agent.headers, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: tenant,
        agent_id: "bot-1",
        payload,
        requested_by: agent.principalId,
        webhook_url: "https://hooks.example.com/policy",
      }),
    },
    env,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { request_id: string; status: string };
}

async function approve(id: string, key: TestKey, env = {}) {
  const res = await call(
    `${BASE}/${id}/approve`,
    { method: "POST", headers: { ...key.headers, "Content-Type": "application/json" }, body: "{}" },
    env,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as ApprovalRequest;
}

async function read(id: string): Promise<ApprovalRequest> {
  const res = await call(`${BASE}/${id}`, { headers: admin.headers });
  expect(res.status).toBe(200);
  return (await res.json()) as ApprovalRequest;
}

async function jwks(env = {}): Promise<JSONWebKeySet> {
  const res = await call("/.well-known/jwks.json", {}, env);
  expect(res.status).toBe(200);
  expect(res.headers.get("Cache-Control")).toBe("public, max-age=300");
  return (await res.json()) as JSONWebKeySet;
}

/** An approved request (level 3 by carol) and its receipt. */
async function approved(tenant = newTenant(), payload?: unknown) {
  const filed = await file(tenant, payload);
  const decided = await approve(filed.request_id, carol);
  expect(decided.status).toBe("approved");
  expect(decided.receipt).toBeDefined();
  return { request: decided, receipt: decided.receipt as Receipt };
}

describe("issuing", () => {
  it("an approval carries one receipt that jose verifies against the JWKS, binding request, payload and approver", async () => {
    const payload = { to: "acct-9", amount: 120, memo: "März ✓", nested: { b: [1, 2.5, "x"], a: null } };
    const { request, receipt } = await approved(undefined, payload);
    expect(receipt).toMatchObject({
      receipt_id: expect.stringMatching(/^rcp_[0-9a-f]{20}$/),
      redeemed_at: null,
    });

    // jose as an independent verifier: signature by the published key, the type, EdDSA only.
    const { payload: claims, protectedHeader } = await jwtVerify(
      receipt.jws,
      createLocalJWKSet(await jwks()),
      {
        algorithms: ["EdDSA"],
        typ: "policy-receipt+jwt",
        issuer: "policy-api",
      },
    );
    expect(protectedHeader).toEqual({ alg: "EdDSA", typ: "policy-receipt+jwt", kid: receipt.kid });
    expect(claims).toMatchObject({
      sub: request.request_id,
      jti: receipt.receipt_id,
      tenant_id: expect.stringMatching(/^rc-/),
      agent_id: "bot-1",
      skill_id: "payments.transfer",
      policy_type: "cost",
      decision: "approved",
      approvers: [{ approver_id: "rc-carol", level: 4 }],
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(900);
    expect(new Date(receipt.not_after).getTime()).toBe((claims.exp ?? 0) * 1000);
    // The payload hash is RFC 8785's canonical JSON (checked against an independent implementation).
    expect(canonicalJson(payload)).toBe(canonicalize(payload));
    expect(claims.payload_sha256).toBe(await sha256Hex(canonicalize(payload) ?? ""));
    expect(claims.payload_sha256).toBe(request.payload_hash);

    // The project's verifier agrees, and reading the request again shows the same receipt.
    expect(
      await verifyReceipt(receipt.jws, await jwks(), { payload, requestId: request.request_id }),
    ).toEqual({
      ok: true,
      claims,
    });
    expect((await read(request.request_id)).receipt).toEqual(receipt);
  });

  it("a 2-of-N quorum: no receipt at the first approval, one naming both counted approvers at the second", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, { approval_level: "agent_approve", required_approvals: 2 });
    const filed = await file(tenant);
    const first = await approve(filed.request_id, carol);
    expect(first.status).toBe("pending");
    expect(first.receipt).toBeUndefined();
    const second = await approve(filed.request_id, dave);
    expect(second.status).toBe("approved");
    const claims = decodeJwt(second.receipt?.jws ?? "");
    expect(claims.approvers).toEqual([
      { approver_id: "rc-carol", level: 4 },
      { approver_id: "rc-dave", level: 5 },
    ]);
  });

  it("policy auto-approval issues the receipt with the request: decision auto_approved, no approvers", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, { approval_level: "auto_approve" });
    const filed = await file(tenant, { max_tokens: 500 });
    expect(filed.status).toBe("auto_approved");
    const stored = await read(filed.request_id);
    const check = await verifyReceipt(stored.receipt?.jws ?? "", await jwks(), {
      payload: { max_tokens: 500 },
    });
    expect(check).toMatchObject({ ok: true, claims: { decision: "auto_approved", approvers: [] } });
  });

  it("exactly one receipt per approval: a rejected and a pending request have none", async () => {
    const tenant = newTenant();
    const rejected = await file(tenant);
    const res = await postJson(`${BASE}/${rejected.request_id}/reject`, { notes: "no" }, carol.headers);
    expect(res.status).toBe(200);
    expect((await read(rejected.request_id)).receipt).toBeUndefined();
    const pending = await file(tenant);
    expect((await read(pending.request_id)).receipt).toBeUndefined();
    const rows = await testSql()`SELECT count(*)::int AS n FROM approval_requests
      WHERE tenant_id = ${tenant} AND receipt_id IS NOT NULL`;
    expect(rows[0]?.n).toBe(0);
  });

  it("the approval's webhook event carries the receipt; the created event of a pending request does not", async () => {
    const { request, receipt } = await approved();
    const events = (await testSql()`SELECT event, payload FROM webhook_outbox
      WHERE request_id = ${request.request_id} ORDER BY id`) as {
      event: string;
      payload: Record<string, unknown>;
    }[];
    expect(events.map((row) => [row.event, "receipt" in row.payload])).toEqual([
      ["approval_request_created", false],
      ["approval_request_approved", true],
    ]);
    expect(events[1]?.payload.receipt).toBe(receipt.jws);
  });

  it("a broken RECEIPT_SIGNING_KEY fails the receipt alone: the approval stands, receipt_failed is logged", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const filed = await file(newTenant());
      const decided = await approve(filed.request_id, carol, { RECEIPT_SIGNING_KEY: "bm90IGEga2V5" });
      expect(decided.status).toBe("approved");
      expect(decided.receipt).toBeUndefined();
    } finally {
      vi.restoreAllMocks();
    }
    const failed = lines
      .map((line) => JSON.parse(line) as { msg?: string })
      .filter((l) => l.msg === "receipt_failed");
    expect(failed).toHaveLength(1);
    expect(lines.join("\n")).not.toContain("bm90IGEga2V5");
  });

  it("without RECEIPT_SIGNING_KEY the approval stands, without a receipt", async () => {
    const filed = await file(newTenant());
    const decided = await approve(filed.request_id, carol, { RECEIPT_SIGNING_KEY: undefined });
    expect(decided.status).toBe("approved");
    expect(decided.receipt).toBeUndefined();
  });
});

describe("verifying refuses", () => {
  it("a changed claim, another payload, an expired receipt, an unknown kid, another request and garbage", async () => {
    const { request, receipt } = await approved();
    const keys = await jwks();
    const payload = request.payload;
    const [header, body, signature] = receipt.jws.split(".");
    const claims = decodeJwt(receipt.jws);
    const forgedBody = btoa(JSON.stringify({ ...claims, approvers: [{ approver_id: "mallory", level: 5 }] }))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replace(/=+$/, "");
    const refused = async (jws: string, expectations: Parameters<typeof verifyReceipt>[2], set = keys) =>
      ((await verifyReceipt(jws, set, expectations)) as { refused?: string }).refused;

    expect(await refused(`${header}.${forgedBody}.${signature}`, { payload })).toBe("bad_signature");
    expect(await refused(receipt.jws, { payload: { amount: 121, to: "acct-9" } })).toBe("payload_mismatch");
    expect(await refused(receipt.jws, { payload, now: new Date((Number(claims.exp) + 60) * 1000) })).toBe(
      "expired",
    );
    expect(await refused(receipt.jws, { payload }, { keys: [] })).toBe("unknown_key");
    expect(await refused(receipt.jws, { payload, requestId: "apr_0000000000000000" })).toBe(
      "request_mismatch",
    );
    expect(await refused("not.a.jws", { payload })).toBe("malformed");
    expect(await refused(`${body}`, { payload })).toBe("malformed");
    await expect(verifyReceipt(receipt.jws, keys, {})).rejects.toThrow(/needs the payload/);
    // jose agrees on the forgery.
    await expect(
      jwtVerify(`${header}.${forgedBody}.${signature}`, createLocalJWKSet(keys)),
    ).rejects.toThrow();
  });
});

describe("rotation", () => {
  it("after the key changes, new receipts use the new kid and old ones still verify until their not-after", async () => {
    const { request: old, receipt: oldReceipt } = await approved();
    const rotated = { RECEIPT_SIGNING_KEY: TEST_RECEIPT_ROTATED_KEY };
    const filed = await file(newTenant(), undefined, rotated);
    const fresh = await approve(filed.request_id, carol, rotated);
    const freshReceipt = fresh.receipt as Receipt;
    expect(freshReceipt.kid).not.toBe(oldReceipt.kid);
    expect(decodeProtectedHeader(freshReceipt.jws).kid).toBe(freshReceipt.kid);

    const set = await jwks(rotated);
    expect(set.keys[0]?.kid).toBe(freshReceipt.kid); // the current key first
    expect(set.keys.map((key) => key.kid)).toContain(oldReceipt.kid);
    for (const key of set.keys) expect(key).not.toHaveProperty("d"); // never the private part
    expect(await verifyReceipt(oldReceipt.jws, set, { payload: old.payload })).toMatchObject({ ok: true });
    expect(await verifyReceipt(freshReceipt.jws, set, { payload: fresh.payload })).toMatchObject({
      ok: true,
    });

    // Once every receipt the retired key signed is past its not-after (and the hour of grace), the key
    // leaves the set: with the original key current again, the rotated one is no longer published.
    await testSql()`UPDATE approval_requests SET receipt_not_after = now() - interval '2 hours'
      WHERE receipt_kid = ${freshReceipt.kid}`;
    const later = await jwks();
    expect(later.keys.map((key) => key.kid)).toContain(oldReceipt.kid);
    expect(later.keys.map((key) => key.kid)).not.toContain(freshReceipt.kid);
  });
});

describe("redeeming", () => {
  const redeem = (id: string, key: TestKey) =>
    call(`/api/v1/policy/receipts/${id}/redeem`, { method: "POST", headers: key.headers });

  it("once: of five concurrent redeems exactly one succeeds, the rest are 409; the request shows when", async () => {
    const { request, receipt } = await approved();
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => redeem(receipt.receipt_id, agent)));
    expect(answers.map((res) => res.status).sort()).toEqual([200, 409, 409, 409, 409]);
    const winner = answers.find((res) => res.status === 200);
    expect(await winner?.json()).toMatchObject({
      receipt_id: receipt.receipt_id,
      request_id: request.request_id,
      redeemed_by: agent.principalId,
    });
    const again = await redeem(receipt.receipt_id, agent);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "conflict",
      message: expect.stringContaining("already redeemed"),
    });
    expect((await read(request.request_id)).receipt?.redeemed_at).toEqual(expect.any(String));
    const audited = await testSql()`SELECT actor, action FROM audit_events
      WHERE target_type = 'receipt' AND target_id = ${receipt.receipt_id}`;
    expect(audited).toEqual([{ actor: agent.principalId, action: "receipt.redeemed" }]);
  });

  it("never across tenants, never an unknown or malformed id, never past its not-after", async () => {
    const { receipt } = await approved();
    const outsider = await createTestKey("agent", { principalId: "rc-outsider", tenantId: "other-co" });
    expect((await redeem(receipt.receipt_id, outsider)).status).toBe(404);
    expect((await redeem("rcp_00000000000000000000", agent)).status).toBe(404);
    expect((await redeem("not-a-receipt", agent)).status).toBe(404);
    expect(
      (await call(`/api/v1/policy/receipts/${receipt.receipt_id}/redeem`, { method: "POST" })).status,
    ).toBe(401);
    const { receipt: late } = await approved();
    await testSql()`UPDATE approval_requests SET receipt_not_after = now() - interval '1 second'
      WHERE receipt_id = ${late.receipt_id}`;
    const expired = await redeem(late.receipt_id, agent);
    expect(expired.status).toBe(409);
    expect(await expired.text()).toContain("not-after");
    // The untouched receipt is still redeemable by its own tenant's key.
    expect((await redeem(receipt.receipt_id, agent)).status).toBe(200);
  });
});
