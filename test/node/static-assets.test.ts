// The static assets (Workers Static Assets, public/) under a real `wrangler dev`, which is what serves
// them (the worker pool's SELF goes straight to the worker): every file with its type, cache life and
// the console's security headers (public/_headers); the API reference's script copied from node_modules;
// paths without a file still the worker's; and in Chromium, the console's service worker registers with
// scope /console and the web app manifest parses without errors, icons included.
import { readFileSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { findChromium } from "../helpers/browser.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const found = await findChromium();

const CSP_SELF_ONLY = /^default-src 'none'; script-src 'self';.*frame-ancestors 'none'/;

/** The width and height a PNG's IHDR chunk states. */
function pngSize(bytes: Uint8Array): [number, number] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join("")).toBe("PNG");
  return [view.getUint32(16), view.getUint32(20)];
}

describe("static assets under wrangler dev", () => {
  let stack: Stack;
  let browser: Browser | undefined;

  beforeAll(async () => {
    stack = await startStack({ log: echoWorkerLine });
    if (!("missing" in found)) {
      browser = await chromium.launch({
        executablePath: found.executablePath,
        args: found.args,
        headless: true,
      });
    }
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  }, 60_000);

  it("serves every file with its type, cache life and the console's security headers", async () => {
    const cases: [string, RegExp, string][] = [
      ["/console/assets/console.css", /^text\/css/, "public, max-age=300"],
      ["/console/assets/console.js", /javascript/, "public, max-age=300"],
      ["/console/assets/push.js", /javascript/, "public, max-age=300"],
      ["/sw.js", /javascript/, "no-cache"],
      ["/manifest.webmanifest", /^application\/manifest\+json/, "public, max-age=300"],
      ["/icons/icon.svg", /^image\/svg\+xml/, "public, max-age=86400"],
      ["/icons/icon-192.png", /^image\/png/, "public, max-age=86400"],
    ];
    for (const [route, type, cache] of cases) {
      const res = await fetch(`${stack.api}${route}`);
      const body = await res.arrayBuffer();
      expect(res.status, route).toBe(200);
      expect(res.headers.get("content-type"), route).toMatch(type);
      expect(res.headers.get("cache-control"), route).toBe(cache);
      expect(res.headers.get("x-content-type-options"), route).toBe("nosniff");
      expect(res.headers.get("x-frame-options"), route).toBe("DENY");
      expect(res.headers.get("referrer-policy"), route).toBe("same-origin");
      expect(res.headers.get("content-security-policy"), route).toMatch(CSP_SELF_ONLY);
      // Served from the asset store, not by the worker (which stamps every answer with a request id).
      expect(res.headers.get("x-request-id"), route).toBeNull();
      expect(body.byteLength, route).toBeGreaterThan(0);
    }
    // The committed files, byte for byte.
    const css = await (await fetch(`${stack.api}/console/assets/console.css`)).text();
    expect(css).toBe(readFileSync(path.join(ROOT, "public/console/assets/console.css"), "utf8"));
  });

  it("serves the API reference's script copied from node_modules, cached for good", async () => {
    const html = await (await fetch(`${stack.api}/docs`)).text();
    const src = /<script src="([^"]+)"><\/script>/.exec(html)?.[1] ?? "";
    const { version } = JSON.parse(
      readFileSync(path.join(ROOT, "node_modules/@scalar/api-reference/package.json"), "utf8"),
    ) as { version: string };
    expect(src).toBe(`/docs/assets/scalar-api-reference-${version}.js`);
    const res = await fetch(`${stack.api}${src}`);
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/javascript/);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(body.length).toBeGreaterThan(1_000_000);
    expect(body).toContain("createApiReference");
  });

  it("leaves every path without a file to the worker", async () => {
    for (const route of ["/health", "/console/login", "/docs", "/docs/assets/nope.js", "/sw.js.map"]) {
      const res = await fetch(`${stack.api}${route}`, { redirect: "manual" });
      await res.arrayBuffer();
      expect(res.headers.get("x-request-id"), route).toMatch(/^req_/);
    }
    expect((await fetch(`${stack.api}/docs/assets/nope.js`)).status).toBe(404);
    const api = await fetch(`${stack.api}/api/v1/policy/requests`);
    expect(api.status).toBe(401);
    expect(api.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("describes an installable app: manifest fields and icons of the sizes it states", async () => {
    const manifest = (await (await fetch(`${stack.api}/manifest.webmanifest`)).json()) as {
      start_url: string;
      scope: string;
      display: string;
      name: string;
      icons: { src: string; sizes: string; type: string }[];
    };
    expect(manifest).toMatchObject({ start_url: "/console", scope: "/console", display: "standalone" });
    expect(manifest.name).toBeTruthy();
    for (const icon of manifest.icons) {
      const res = await fetch(`${stack.api}${icon.src}`);
      expect(res.status, icon.src).toBe(200);
      expect(res.headers.get("content-type"), icon.src).toContain(icon.type);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (icon.type === "image/png") expect(pngSize(bytes).join("x"), icon.src).toBe(icon.sizes);
    }
    expect(manifest.icons.some((icon) => icon.sizes === "512x512" && icon.type === "image/png")).toBe(true);
  });

  it("gives wrangler dev a VAPID pair: the push page offers push with the public key", async () => {
    const signIn = await fetch(`${stack.api}/console/login`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: stack.api },
      body: new URLSearchParams({ api_key: stack.keys.approver ?? "" }),
      redirect: "manual",
    });
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const page = await (await fetch(`${stack.api}/console/push`, { headers: { Cookie: cookie } })).text();
    expect(page.slice(page.indexOf("<main"), page.indexOf("<main") + 600)).toMatch(
      /data-push-key="B[A-Za-z0-9_-]{86}"/,
    );
  });

  it.skipIf("missing" in found)(
    "in Chromium: the console links the manifest (parsed without errors) and registers its service worker",
    async () => {
      const context = await (browser as Browser).newContext();
      const page = await context.newPage();
      await page.goto(`${stack.api}/console/login`);
      // Runs in the page; the Node project's types have no DOM, so the function is given as text.
      const scope = await page.evaluate(
        "navigator.serviceWorker.ready.then((registration) => registration.scope)",
      );
      expect(scope).toBe(`${stack.api}/console`);
      const cdp = await context.newCDPSession(page);
      const manifest = (await cdp.send("Page.getAppManifest")) as {
        url: string;
        errors: { message: string; critical: number }[];
      };
      expect(manifest.url).toBe(`${stack.api}/manifest.webmanifest`);
      expect(manifest.errors).toEqual([]);
      await context.close();
    },
  );
});
