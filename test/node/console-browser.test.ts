// The approver console in a real Chromium (playwright-core) against the worker under `wrangler dev`:
// sign in, see a pending request, approve it, watch requests leave the inbox by themselves, and check
// through the API who decided; a reject without a reason, a cross-site form post, a <script> payload
// and a signed-out session are refused or inert; no serious or critical axe-core violations at desktop
// and phone widths. UPDATE_SCREENSHOTS=1 also writes docs/console-inbox.png and docs/console-request.png.
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { findChromium, runAxe, seriousViolations } from "../helpers/browser.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const found = await findChromium();
if ("missing" in found) {
  const message = `\n*** Browser tests SKIPPED: ${found.missing}.\n*** Fix: set CHROME_PATH to a Chromium/Chrome executable, or run on Linux x64 where npm install brings @sparticuz/chromium.\n`;
  if (process.env.CI === "true") throw new Error(message);
  console.warn(message);
}

describe.skipIf("missing" in found)("approver console in Chromium", () => {
  let stack: Stack;
  let browser: Browser;
  let forger: http.Server;

  async function api(method: string, route: string, key: string, body?: unknown) {
    const res = await fetch(`${stack.api}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function fileRequest(payload: Record<string, unknown> = { amount: 250 }): Promise<string> {
    const res = await api("POST", "/api/v1/policy/requests", stack.keys.agent ?? "", {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: "demo",
      agent_id: "bot-console",
      requested_by: "bot-console",
      justification: "Pay the supplier's invoice",
      payload,
      expires_in_seconds: 3600,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.request_id as string;
  }

  async function signedIn(width = 1280, key = stack.keys.approver ?? ""): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${stack.api}/console`);
    await expect.poll(() => page.url()).toContain("/console/login");
    await page.getByLabel("API key (approver or admin)").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${stack.api}/console`);
    return page;
  }

  beforeAll(async () => {
    if ("missing" in found) return;
    stack = await startStack({ log: echoWorkerLine });
    browser = await chromium.launch({
      executablePath: found.executablePath,
      args: found.args,
      headless: true,
    });
    // Another site: a page whose form posts to the console (the CSRF attempt).
    forger = http.createServer((req, res) => {
      const target = new URL(req.url ?? "/", "http://forger").searchParams.get("target") ?? "";
      res.writeHead(200, { "Content-Type": "text/html" }).end(`<!doctype html><title>forged</title>
        <form id="f" method="post" action="${target}"><input name="decision" value="approve"></form>
        <script>document.getElementById("f").submit()</script>`);
    });
    await new Promise<void>((resolve) => forger.listen(0, "127.0.0.1", resolve));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    forger?.close();
    await stack?.stop();
  }, 60_000);

  it("signs in, approves a request from its page, and the API shows the key's principal decided", async () => {
    const id = await fileRequest();
    const page = await signedIn();
    await expect.poll(() => page.locator(`tr[data-request-id="${id}"]`).count()).toBe(1);
    if (process.env.UPDATE_SCREENSHOTS === "1") {
      await page.screenshot({ path: path.join(ROOT, "docs/console-inbox.png") });
    }
    await page.getByRole("link", { name: id }).click();
    await expect.poll(() => page.locator("#request-status").textContent()).toBe("pending");
    if (process.env.UPDATE_SCREENSHOTS === "1") {
      await page.screenshot({ path: path.join(ROOT, "docs/console-request.png"), fullPage: true });
    }
    await page.getByLabel("Notes (a reason is required to reject)").fill("Invoice checked");
    await page.getByRole("button", { name: "Approve" }).click();
    await expect.poll(() => page.locator("#request-status").textContent()).toBe("approved");
    await expect.poll(() => page.getByText("nothing is left to decide").count()).toBe(1);

    const request = await api("GET", `/api/v1/policy/requests/${id}`, stack.keys.admin ?? "");
    expect(request.body.status).toBe("approved");
    expect(request.body.approvers).toEqual([
      expect.objectContaining({ approver_id: "dev-approver", action: "approve", notes: "Invoice checked" }),
    ]);
    await page.getByRole("link", { name: "Inbox" }).first().click();
    expect(await page.locator(`tr[data-request-id="${id}"]`).count()).toBe(0);
    await page.context().close();
  });

  it("drops a request decided elsewhere from an open inbox by itself", async () => {
    const id = await fileRequest();
    const page = await signedIn();
    await expect.poll(() => page.locator(`tr[data-request-id="${id}"]`).count()).toBe(1);
    const decided = await api("POST", `/api/v1/policy/requests/${id}/reject`, stack.keys.admin ?? "", {
      notes: "decided elsewhere",
    });
    expect(decided.status).toBe(200);
    await expect.poll(() => page.locator(`tr[data-request-id="${id}"]`).count(), { timeout: 15_000 }).toBe(0);
    await page.context().close();
  });

  it("refuses a reject without a reason, and a form posted from another site", async () => {
    const id = await fileRequest();
    const page = await signedIn();
    await page.goto(`${stack.api}/console/requests/${id}`);
    await page.getByRole("button", { name: "Reject" }).click();
    await expect.poll(() => page.getByText("Give a reason to reject.").count()).toBe(1);

    const forgerUrl = `http://127.0.0.1:${(forger.address() as AddressInfo).port}/`;
    const forged = await page.context().newPage();
    const answer = forged.waitForResponse((res) => res.url().includes(`/console/requests/${id}/decide`));
    await forged.goto(
      `${forgerUrl}?target=${encodeURIComponent(`${stack.api}/console/requests/${id}/decide`)}`,
    );
    expect((await answer).status()).toBe(403);
    const request = await api("GET", `/api/v1/policy/requests/${id}`, stack.keys.admin ?? "");
    expect(request.body.status).toBe("pending");
    await page.context().close();
  });

  it("shows a <script> payload as text and never runs it", async () => {
    const id = await fileRequest({
      amount: 250,
      note: '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">',
    });
    const page = await signedIn();
    await page.goto(`${stack.api}/console/requests/${id}`);
    expect(await page.locator("#payload").textContent()).toContain("<script>window.__pwned = 1</script>");
    expect(
      await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned),
    ).toBeUndefined();
    await page.context().close();
  });

  it("refuses a signed-out session, even when its cookie is replayed", async () => {
    const page = await signedIn();
    const cookies = await page.context().cookies();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/console\/login/);
    await page.context().addCookies(cookies);
    await page.goto(`${stack.api}/console`);
    expect(page.url()).toContain("/console/login");
    await page.context().close();
  });

  it("has no serious or critical axe-core violations, at desktop and phone widths, admin pages included", async () => {
    const id = await fileRequest();
    const axe = readFileSync(path.join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
    for (const width of [1280, 390]) {
      // The admin key sees every page, the admin pages included.
      const page = await signedIn(width, stack.keys.admin ?? "");
      for (const route of [
        "/console",
        `/console/requests/${id}`,
        "/console/admin",
        "/console/admin/policy",
        "/console/login",
      ]) {
        await page.goto(`${stack.api}${route}`);
        const result = await runAxe(page, axe);
        // axe really ran (and checked something) on this page.
        expect(result.passes).toBeGreaterThan(5);
        expect(seriousViolations(result), `${route} at ${width}px`).toEqual([]);
      }
      await page.context().close();
    }
  });
});
