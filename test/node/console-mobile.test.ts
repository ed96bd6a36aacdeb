// The console for phones and long queues in a real Chromium (playwright-core) against the worker under
// `wrangler dev`: the inbox as cards at 390×844 and a table at 1280 px with no horizontal scroll at
// either, the decision within thumb reach on a phone, paging through 1,000 pending requests (seeded in
// SQL) with no duplicate and no gap while new ones arrive, bulk decisions with mixed outcomes (a forged
// selection included), keyboard decisions, the forms without JavaScript, and axe-core at both widths.
// UPDATE_SCREENSHOTS=1 also writes docs/console-phone-inbox.png and docs/console-phone-request.png.
import { readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { findChromium, runAxe, seriousViolations } from "../helpers/browser.ts";
import { seedPendingSql } from "../helpers/inbox-seed.ts";
import { echoWorkerLine } from "../helpers/secret-scan.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PHONE = { width: 390, height: 844 };
const DESK = { width: 1280, height: 900 };
const found = await findChromium();
if ("missing" in found) {
  const message = `\n*** Browser tests SKIPPED: ${found.missing}.\n*** Fix: set CHROME_PATH to a Chromium/Chrome executable, or run on Linux x64 where npm install brings @sparticuz/chromium.\n`;
  if (process.env.CI === "true") throw new Error(message);
  console.warn(message);
}

describe.skipIf("missing" in found)("console on phones and long queues, in Chromium", () => {
  let stack: Stack;
  let browser: Browser;
  let db: pg.Client;

  async function seed(tenant: string, count: number, options: Parameters<typeof seedPendingSql>[2] = {}) {
    const { text, params } = seedPendingSql(tenant, count, options);
    return (await db.query<{ id: string }>(text, params)).rows.map((row) => row.id);
  }

  async function signedIn(
    viewport: { width: number; height: number },
    options: { javaScriptEnabled?: boolean } = {},
  ): Promise<Page> {
    const context = await browser.newContext({ viewport, ...options });
    const page = await context.newPage();
    await page.goto(`${stack.api}/console/login`);
    await page.getByLabel("API key (approver or admin)").fill(stack.keys.approver ?? "");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${stack.api}/console`);
    return page;
  }

  /** The document's scroll width and the viewport's width: equal or less means no horizontal scroll. */
  const noSideScroll = (page: Page): Promise<{ scrollWidth: number; innerWidth: number }> =>
    page.evaluate("({ scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth })");

  const statusOf = async (id: string) =>
    (await db.query<{ status: string }>("SELECT status FROM approval_requests WHERE id = $1", [id])).rows[0]
      ?.status;

  beforeAll(async () => {
    if ("missing" in found) return;
    stack = await startStack({ log: echoWorkerLine });
    db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    browser = await chromium.launch({
      executablePath: found.executablePath,
      args: found.args,
      headless: true,
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await db?.end();
    await stack?.stop();
  }, 60_000);

  it("shows cards at 390×844 and a table at 1280 px, never scrolling sideways; the decision within thumb reach", async () => {
    const [first] = await seed("mobile-co", 3, {
      payloadNote: "A very long note without spaces: ".concat("x".repeat(300)),
    });
    for (const viewport of [PHONE, DESK]) {
      const page = await signedIn(viewport);
      await page.goto(`${stack.api}/console?tenant=mobile-co`);
      const row = page.locator(`tr[data-request-id="${first}"]`);
      await expect.poll(() => row.count()).toBe(1);
      const display = await row.evaluate(
        (element) =>
          (globalThis as unknown as { getComputedStyle(e: unknown): { display: string } }).getComputedStyle(
            element,
          ).display,
      );
      expect(display, `${viewport.width}px`).toBe(viewport === PHONE ? "grid" : "table-row");
      const scroll = await noSideScroll(page);
      expect(scroll.scrollWidth, `${viewport.width}px inbox`).toBeLessThanOrEqual(scroll.innerWidth);
      // The card says who, what, level, time left and quorum progress.
      const card = (await row.innerText()).replace(/\s+/g, " ");
      for (const part of ["payments.transfer", "seed-bot-", "2 ", "0 of 1"]) expect(card).toContain(part);
      const header = await page.locator("header.bar").boundingBox();
      expect(header?.height ?? 999).toBeLessThan(viewport.height / 6);
      if (viewport === PHONE && process.env.UPDATE_SCREENSHOTS === "1") {
        await page.screenshot({ path: path.join(ROOT, "docs/console-phone-inbox.png") });
      }

      await page.goto(`${stack.api}/console/requests/${first}`);
      const requestScroll = await noSideScroll(page);
      expect(requestScroll.scrollWidth, `${viewport.width}px request`).toBeLessThanOrEqual(
        requestScroll.innerWidth,
      );
      if (viewport === PHONE) {
        // Without scrolling, Approve and Reject sit in the bottom third of the screen.
        for (const name of ["Approve", "Reject"]) {
          const box = await page.getByRole("button", { name, exact: true }).boundingBox();
          expect(box, name).not.toBeNull();
          expect((box?.y ?? 0) + (box?.height ?? 0)).toBeLessThanOrEqual(PHONE.height);
          expect(box?.y ?? 0).toBeGreaterThan((PHONE.height * 2) / 3);
        }
        if (process.env.UPDATE_SCREENSHOTS === "1") {
          await page.screenshot({ path: path.join(ROOT, "docs/console-phone-request.png") });
        }
      }
      await page.context().close();
    }
  });

  it("pages through 1,000 pending requests with no duplicate and no gap while new ones arrive", async () => {
    const seeded = await seed("queue-co", 1000);
    const page = await signedIn(DESK);
    await page.goto(`${stack.api}/console?tenant=queue-co&sort=oldest`);
    const seen: string[] = [];
    for (let pages = 0; pages < 40; pages++) {
      const ids = await page
        .locator("#inbox tr[data-request-id]")
        .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-request-id") ?? ""));
      seen.push(...ids);
      // Five more arrive between every two pages.
      await seed("queue-co", 5);
      const next = page.locator("#page-next");
      if ((await next.count()) === 0) break;
      await next.click();
      await page.waitForLoadState("domcontentloaded");
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seeded.filter((id) => !seen.includes(id))).toEqual([]);
    // The counts cover everything matching, not the page.
    const counts = await page.locator("#count-total").textContent();
    expect(Number(/\d+/.exec(counts ?? "")?.[0])).toBeGreaterThanOrEqual(1000);
    await page.context().close();
  }, 180_000);

  it("decides a selection in bulk with one reason, each request with its own result", async () => {
    const [ok, decidedMeanwhile] = await seed("bulk-ui", 2);
    const [above] = await seed("bulk-ui", 1, { requiredLevel: 5 });
    const [own] = await seed("bulk-ui", 1, { requestedBy: "dev-approver" });
    const page = await signedIn(PHONE);
    await page.goto(`${stack.api}/console?tenant=bulk-ui`);
    // Above its level and its own are not listed: the approver never sees them to select.
    expect(await page.locator(`tr[data-request-id="${above}"]`).count()).toBe(0);
    expect(await page.locator(`tr[data-request-id="${own}"]`).count()).toBe(0);
    await page.getByLabel(`Select ${ok}`).check();
    await page.getByLabel(`Select ${decidedMeanwhile}`).check();
    // Someone decides one of them before the bulk form is sent.
    await db.query("UPDATE approval_requests SET status = 'rejected' WHERE id = $1", [decidedMeanwhile]);
    // A forged selection (the key holder editing the form) goes through the same rules.
    await page.evaluate(`for (const id of ${JSON.stringify([above, own])}) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids[]";
      input.value = id;
      document.getElementById("bulk").appendChild(input);
    }`);
    await page.getByLabel("Reason for the selected requests (required to reject)").fill("Checked in a batch");
    await page.getByRole("button", { name: "Approve selected" }).click();
    await expect.poll(() => page.locator("#bulk-summary").textContent()).toContain("2 of 4 recorded");
    const line = (id: string | undefined) => page.locator(`li[data-request-id="${id}"]`);
    expect(await line(ok).textContent()).toContain("Done: the request is approved");
    expect(await line(decidedMeanwhile).textContent()).toContain("already rejected");
    expect(await line(above).textContent()).toContain("kept as a note only");
    expect(await line(own).textContent()).toContain("cannot decide it");
    expect(await statusOf(ok ?? "")).toBe("approved");
    expect(await statusOf(above ?? "")).toBe("pending");
    expect(await statusOf(own ?? "")).toBe("pending");
    const scroll = await noSideScroll(page);
    expect(scroll.scrollWidth).toBeLessThanOrEqual(scroll.innerWidth);
    await page.context().close();
  });

  it("works without JavaScript: search, select and decide in bulk", async () => {
    const [wanted] = await seed("nojs-co", 1, { payloadNote: "needle-42" });
    await seed("nojs-co", 4);
    const page = await signedIn(PHONE, { javaScriptEnabled: false });
    await page.goto(`${stack.api}/console?tenant=nojs-co`);
    await page.getByRole("searchbox", { name: "Search" }).fill("needle-42");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("#inbox tr[data-request-id]").count()).toBe(1);
    await page.getByLabel(`Select ${wanted}`).check();
    await page.getByLabel("Reason for the selected requests (required to reject)").fill("Not this month");
    await page.getByRole("button", { name: "Reject selected" }).click();
    await expect.poll(() => page.locator("#bulk-summary").textContent()).toContain("1 of 1 recorded");
    expect(await statusOf(wanted ?? "")).toBe("rejected");
    await page.context().close();
  });

  it("moves and decides with the keyboard, with a confirmation; ? lists the shortcuts", async () => {
    const [first, second] = await seed("keys-co", 2);
    const page = await signedIn(DESK);
    const answered: string[] = [];
    page.on("dialog", (dialog) => {
      answered.push(dialog.type());
      void (dialog.type() === "prompt" ? dialog.accept("Not needed") : dialog.accept());
    });
    await page.goto(`${stack.api}/console?sort=deadline&tenant=keys-co`);
    await page.keyboard.press("?");
    await expect.poll(() => page.locator("#shortcuts").getAttribute("open")).toBe("");
    await page.keyboard.press("j");
    const current = await page.locator("#inbox tr.current").getAttribute("data-request-id");
    expect([first, second]).toContain(current);
    await page.keyboard.press("a");
    await expect.poll(() => page.locator("#bulk-summary").textContent()).toContain("1 of 1 recorded");
    expect(answered).toEqual(["confirm"]);
    expect(await statusOf(current ?? "")).toBe("approved");

    const other = current === first ? second : first;
    await page.goto(`${stack.api}/console/requests/${other}`);
    await page.keyboard.press("r");
    await expect.poll(() => page.locator("#request-status").textContent()).toBe("rejected");
    expect(answered).toEqual(["confirm", "prompt", "confirm"]);
    await page.context().close();
  });

  it("has no serious or critical axe-core violations on the inbox, a request and bulk results, at both widths", async () => {
    const [id] = await seed("axe-co", 3);
    const axe = readFileSync(path.join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
    for (const viewport of [PHONE, DESK]) {
      const page = await signedIn(viewport);
      const check = async (label: string) => {
        const result = await runAxe(page, axe);
        expect(result.passes).toBeGreaterThan(5);
        expect(seriousViolations(result), `${label} at ${viewport.width}px`).toEqual([]);
      };
      await page.goto(`${stack.api}/console?tenant=axe-co`);
      await check("inbox");
      await page.goto(`${stack.api}/console/requests/${id}`);
      await check("request");
      await page.goto(`${stack.api}/console?tenant=axe-co`);
      await page.locator("#inbox input[type=checkbox]").first().check();
      await page.getByLabel("Reason for the selected requests (required to reject)").fill("axe");
      await page.getByRole("button", { name: "Reject selected" }).click();
      await page.locator("#bulk-summary").waitFor();
      await check("bulk results");
      await page.context().close();
    }
  });
});
