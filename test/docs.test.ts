import { describe, expect, it } from "vitest";
import { BASE_URL, call } from "./helpers/http.ts";

/** Every src/href attribute value in the page. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((match) => match[1] ?? "");
}

/** Opening script, link and img tags. */
function resourceTags(html: string): string[] {
  return [...html.matchAll(/<(?:script|link|img)\b[^>]*>/gi)].map((match) => match[0]);
}

async function getPage() {
  const res = await call("/docs", {}, { DATABASE_URL: "" });
  return { res, html: await res.text() };
}

describe("GET /docs", () => {
  it("answers 200 HTML without an API key or a database", async () => {
    const { res, html } = await getPage();
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(html).toMatch(/^<!doctype html>/i);
  });

  it("references only same-origin URLs: no external origin, no CDN", async () => {
    const { html } = await getPage();
    const urls = referencedUrls(html);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) {
      // Relative or rooted: no scheme (http:, https:, data:, ...) and not protocol-relative ("//host").
      expect(url, url).not.toMatch(/^[a-z][a-z0-9+.-]*:/i);
      expect(url.startsWith("//"), url).toBe(false);
      expect(new URL(url, `${BASE_URL}/docs`).origin, url).toBe(BASE_URL);
    }
    for (const tag of resourceTags(html)) expect(tag, tag).not.toMatch(/https?:\/\//i);
    expect(html).not.toContain("cdn.");
  });

  it("references the Scalar script by its versioned static-asset path (served by test/node/static-assets.test.ts)", async () => {
    const { html } = await getPage();
    expect(html).toMatch(
      /<script src="\/docs\/assets\/scalar-api-reference-\d+\.\d+\.\d+[^"]*\.js"><\/script>/,
    );
  });

  it("points the reference at /openapi.json, which is served", async () => {
    const { html } = await getPage();
    expect(html).toMatch(/Scalar\.createApiReference\("#app",\s*\{"url":"\/openapi\.json"/);
    expect((await call("/openapi.json", {}, { DATABASE_URL: "" })).status).toBe(200);
  });

  it("asks the browser to load nothing from other origins", async () => {
    const { res, html } = await getPage();
    const csp = res.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toMatch(/https?:|\*/);
    // The inline initialisation script is the one the hash allows.
    const inline = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(inline));
    expect(csp).toContain(`'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`);
    // Scalar's own defaults that reach its hosted services are switched off.
    expect(html).toContain('"withDefaultFonts":false');
    expect(html).toContain('"proxyUrl":""');
  });

  it("answers 404 for an unknown asset path (no file in public/ falls through to the worker)", async () => {
    expect((await call("/docs/assets/nope.js")).status).toBe(404);
  });
});
