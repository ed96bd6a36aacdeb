// Issue 23, the console's edges, each attack performed through the worker's routes: sign-in flooding
// (per key and per client address limits, failures counted, live sessions capped per key, ended
// sessions purged by the cron in bounded batches), bodies that are not forms, a below-level approver
// told what their action did, HTML error pages raised before the console's routes, and the session
// cookie's __Host- prefix wherever it is Secure.
import { describe, expect, it, vi } from "vitest";
import { signIn } from "./helpers/console.ts";
import { BASE_URL, call } from "./helpers/http.ts";
import { createTestKey } from "./helpers/keys.ts";
import { fileRequest } from "./helpers/requests.ts";

/** Every line the worker logged while `work` ran. */
async function logsOf(work: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

function expectPageHeaders(res: Response, what: string) {
  expect(res.headers.get("Content-Type"), what).toMatch(/^text\/html/);
  expect(res.headers.get("Content-Security-Policy"), what).toContain("frame-ancestors 'none'");
  expect(res.headers.get("X-Frame-Options"), what).toBe("DENY");
  expect(res.headers.get("Cache-Control"), what).toBe("no-store");
  expect(res.headers.get("X-Content-Type-Options"), what).toBe("nosniff");
}

describe("bodies that are not forms (finding 5)", () => {
  const notMultipart = (type = "multipart/form-data; boundary=----x") => ({
    "Content-Type": type,
    Origin: BASE_URL,
  });

  it("answers POST /console/login with a broken multipart body as a 400 page, never a 500", async () => {
    const cases: [string, Record<string, string>, string, number][] = [
      ["multipart, body not multipart", notMultipart(), "api_key=hello", 400],
      ["multipart without a boundary", notMultipart("multipart/form-data"), "api_key=hello", 400],
      [
        "multipart cut short",
        notMultipart(),
        '------x\r\nContent-Disposition: form-data; name="api_key"\r\n\r\npak',
        400,
      ],
      ["JSON", { "Content-Type": "application/json", Origin: BASE_URL }, '{"api_key":"hello"}', 415],
      ["plain text", { "Content-Type": "text/plain", Origin: BASE_URL }, "api_key=hello", 415],
    ];
    const lines = await logsOf(async () => {
      for (const [what, headers, body, status] of cases) {
        const res = await call("/console/login", { method: "POST", headers, body });
        expect(res.status, what).toBe(status);
        expectPageHeaders(res, what);
        expect(await res.text(), what).toMatch(/<h1>Refused<\/h1>/);
      }
    });
    expect(lines.filter((line) => line.msg === "unhandled_error")).toEqual([]);
  });

  it("still takes a well-formed multipart sign-in", async () => {
    const approver = await createTestKey("approver");
    const body = new FormData();
    body.set("api_key", approver.token);
    const res = await call("/console/login", {
      method: "POST",
      headers: { Origin: BASE_URL },
      body,
      redirect: "manual",
    });
    expect(res.status).toBe(303);
  });

  it("answers every signed-in console post with a broken body as a 400 page", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const id = await fileRequest(agent);
    const { cookie } = await signIn(admin);
    const lines = await logsOf(async () => {
      for (const path of [
        "/console/logout",
        `/console/requests/${id}/decide`,
        "/console/admin/switches",
        "/console/admin/keys",
        `/console/admin/keys/${admin.keyId}/revoke`,
      ]) {
        const res = await call(path, {
          method: "POST",
          headers: { ...notMultipart(), Cookie: cookie },
          body: "x",
        });
        expect(res.status, path).toBe(400);
        expectPageHeaders(res, path);
        const json = await call(path, {
          method: "POST",
          headers: { "Content-Type": "application/json", Origin: BASE_URL, Cookie: cookie },
          body: "{}",
        });
        expect(json.status, path).toBe(415);
      }
    });
    expect(lines.filter((line) => line.msg === "unhandled_error")).toEqual([]);
    // Nothing was done: the session is live and the request still pending.
    expect((await call("/console/inbox", { headers: { Cookie: cookie } })).status).toBe(200);
    const read = await call(`/api/v1/policy/requests/${id}`, { headers: admin.headers });
    expect(((await read.json()) as { status: string }).status).toBe("pending");
  });
});

describe("HTML error pages raised before the console's routes (finding 9)", () => {
  it("carry the console's headers: 414, 431, 413, 404, and /docs", async () => {
    const cases: [string, Promise<Response>, number][] = [
      ["414", call(`/console?${"a".repeat(9000)}`), 414],
      ["431", call("/console", { headers: { "X-Padding": "p".repeat(17 * 1024) } }), 431],
      [
        "413",
        call("/console/login", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: BASE_URL },
          body: `api_key=${"k".repeat(300 * 1024)}`,
        }),
        413,
      ],
      ["404", call("/console/no-such-page"), 404],
    ];
    for (const [what, pending, status] of cases) {
      const res = await pending;
      expect(res.status, what).toBe(status);
      expectPageHeaders(res, what);
    }
    // The API reference is HTML too: it keeps its own policy and caching, and may not be framed.
    const docs = await call("/docs");
    expect(docs.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");
    expect(docs.headers.get("X-Frame-Options")).toBe("DENY");
    expect(docs.headers.get("Cache-Control")).toBe("public, max-age=300");
  });
});
