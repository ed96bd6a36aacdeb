// Issue 23 finding 4: every point in time the API takes (query, body, cursor) goes through one parser
// with one documented range, 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z in UTC after the
// offset, and anything outside it is a 400 naming the field, never a 500 from Postgres. The audit
// export refuses before it streams: a bad `from` never answers 200 and then breaks off.
import { beforeAll, describe, expect, it } from "vitest";
import { toBase64Url } from "../src/domain/encoding.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const RULE = /1970-01-01T00:00:00Z to 9999-12-31T23:59:59\.999Z/;

let agent: TestKey;
let admin: TestKey;

beforeAll(async () => {
  agent = await createTestKey("agent", { principalId: "time-bot" });
  admin = await createTestKey("admin", { principalId: "time-admin" });
});

/** The answer is a 400 naming `field` with the range rule. */
async function expectRefused(res: Response, field: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(400);
  const body = JSON.parse(text) as ErrorEnvelope;
  expect(body.error.code).toBe("validation_failed");
  const issues = (body.error.details as { issues: { path: string; message: string }[] }).issues;
  expect(issues.map((issue) => issue.path)).toEqual([field]);
  expect(issues[0]?.message).toMatch(RULE);
}

const cursor = (at: string) => toBase64Url(new TextEncoder().encode(`${at}|apr_0123456789abcdef`));

describe("a time out of range", () => {
  const cases: [string, string, string][] = [
    ["decisions since year 0", "/api/v1/policy/decisions?since=0000-01-01T00:00:00Z", "since"],
    ["decisions until year 0", "/api/v1/policy/decisions?until=0000-01-01T00:00:00Z", "until"],
    [
      "decisions since 9999-12-31T23:59:59-23:59 (year 10000 in UTC)",
      `/api/v1/policy/decisions?since=${encodeURIComponent("9999-12-31T23:59:59-23:59")}`,
      "since",
    ],
    ["decisions since 1969", "/api/v1/policy/decisions?since=1969-12-31T23:59:59Z", "since"],
    [
      "requests created_after year 0",
      "/api/v1/policy/requests?created_after=0000-01-01T00:00:00Z",
      "created_after",
    ],
    [
      "requests created_before +14:00 past the end",
      `/api/v1/policy/requests?created_before=${encodeURIComponent("9999-12-31T23:00:00-14:00")}`,
      "created_before",
    ],
    [
      "requests: a cursor decoding to year 10000",
      `/api/v1/policy/requests?cursor=${cursor("+010000-01-01T00:00:00.000Z")}`,
      "cursor",
    ],
    [
      "requests: a cursor decoding to year 0",
      `/api/v1/policy/requests?cursor=${cursor("0000-01-01T00:00:00.000Z")}`,
      "cursor",
    ],
  ];
  for (const [name, path, field] of cases) {
    it(`${name}: 400 naming ${field}`, async () => {
      const res = await call(path, { headers: agent.headers });
      if (field === "cursor") {
        const body = (await res.json()) as ErrorEnvelope;
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(body.error.details).toMatchObject({ issues: [{ path: "cursor" }] });
      } else await expectRefused(res, field);
    });
  }

  it("reject-pending with created_before year 0: 400 naming created_before", async () => {
    const res = await postJson(
      "/api/v1/policy/requests/reject-pending",
      { reason: "incident", created_before: "0000-01-01T00:00:00Z" },
      admin.headers,
    );
    await expectRefused(res, "created_before");
  });

  it("usage with occurred_at year 0: 400 naming occurred_at", async () => {
    const res = await postJson(
      "/api/v1/policy/usage",
      {
        usage_id: "u-year-0",
        tenant_id: "time-tenant",
        amount_cents: 1,
        occurred_at: "0000-01-01T00:00:00Z",
      },
      agent.headers,
    );
    await expectRefused(res, "occurred_at");
  });

  it("audit export from year 0: 400 before anything streams", async () => {
    const res = await call("/api/v1/admin/audit/export?from=0000-01-01T00:00:00Z", {
      headers: admin.headers,
    });
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    await expectRefused(res, "from");
    const late = await call(
      `/api/v1/admin/audit/export?to=${encodeURIComponent("9999-12-31T23:59:59-01:00")}`,
      {
        headers: admin.headers,
      },
    );
    await expectRefused(late, "to");
  });
});

describe("the edges of the range", () => {
  it("are accepted, with any offset that keeps them inside", async () => {
    for (const at of ["1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "1970-01-01T05:00:00+05:00"]) {
      const res = await call(`/api/v1/policy/decisions?since=${encodeURIComponent(at)}`, {
        headers: agent.headers,
      });
      expect(res.status, `${at}: ${await res.clone().text()}`).toBe(200);
      const listed = await call(`/api/v1/policy/requests?created_before=${encodeURIComponent(at)}`, {
        headers: agent.headers,
      });
      expect(listed.status, at).toBe(200);
    }
    const exported = await call(
      "/api/v1/admin/audit/export?from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
      {
        headers: admin.headers,
      },
    );
    expect(exported.status).toBe(200);
    expect((await exported.text()).split("\n")[0]).toContain('"from":"1970-01-01T00:00:00.000Z"');
  });

  it("a cursor this API issued still pages", async () => {
    const res = await call(`/api/v1/policy/requests?cursor=${cursor("2026-01-01T00:00:00.000Z")}`, {
      headers: agent.headers,
    });
    expect(res.status).toBe(200);
  });
});
