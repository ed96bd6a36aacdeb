// Issue 23, the console's edges, each attack performed through the worker's routes: sign-in flooding
// (per key and per client address limits, failures counted, live sessions capped per key, ended
// sessions purged by the cron in bounded batches), bodies that are not forms, a below-level approver
// told what their action did, HTML error pages raised before the console's routes, and the session
// cookie's __Host- prefix wherever it is Secure.
import { describe, expect, it } from "vitest";
import { BASE_URL, call } from "./helpers/http.ts";

function expectPageHeaders(res: Response, what: string) {
  expect(res.headers.get("Content-Type"), what).toMatch(/^text\/html/);
  expect(res.headers.get("Content-Security-Policy"), what).toContain("frame-ancestors 'none'");
  expect(res.headers.get("X-Frame-Options"), what).toBe("DENY");
  expect(res.headers.get("Cache-Control"), what).toBe("no-store");
  expect(res.headers.get("X-Content-Type-Options"), what).toBe("nosniff");
}

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
