// Finding a Chromium for the browser tests (Node side), so that `npm install` alone is the set-up:
//   1. CHROME_PATH, when set (any Chromium or Chrome, on any platform);
//   2. on Linux x64, the build inside the @sparticuz/chromium npm package (a devDependency);
//   3. a system Chromium or Chrome at the usual Linux paths (Debian's `chromium`).
// Where none can be had the tests say so loudly, with the fix; under CI=true they never skip.
import { existsSync } from "node:fs";
import os from "node:os";
import type { Page } from "playwright-core";

export interface FoundBrowser {
  executablePath: string;
  args: string[];
  source: string;
}

const SYSTEM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

export async function findChromium(): Promise<FoundBrowser | { missing: string }> {
  const configured = process.env.CHROME_PATH;
  if (configured) {
    return existsSync(configured)
      ? { executablePath: configured, args: [], source: "CHROME_PATH" }
      : { missing: `CHROME_PATH=${configured} does not exist` };
  }
  if (os.platform() === "linux" && os.arch() === "x64") {
    try {
      const { default: chromium } = await import("@sparticuz/chromium");
      return {
        executablePath: await chromium.executablePath(),
        // Its serverless flags minus single-process mode, which is flaky with several pages.
        args: chromium.args.filter((arg) => arg !== "--single-process"),
        source: "@sparticuz/chromium",
      };
    } catch (error) {
      const found = SYSTEM_PATHS.find((candidate) => existsSync(candidate));
      if (found) return { executablePath: found, args: [], source: found };
      return {
        missing: `@sparticuz/chromium did not start (${String(error)}) and no system Chromium was found`,
      };
    }
  }
  const found = SYSTEM_PATHS.find((candidate) => existsSync(candidate));
  if (found) return { executablePath: found, args: [], source: found };
  return {
    missing: `no Chromium for ${os.platform()}/${os.arch()}: set CHROME_PATH to a Chromium or Chrome executable (on Debian: apt-get install chromium)`,
  };
}

/** What axe-core found on a page: how many checks passed, and the violations by rule and impact. */
export interface AxeResult {
  passes: number;
  violations: { id: string; impact: string }[];
}

/**
 * Runs axe-core (`source`: the text of axe.min.js) on the page. It is evaluated as a function body:
 * the console's CSP allows no injected script tags.
 */
export function runAxe(page: Page, source: string): Promise<AxeResult> {
  return page.evaluate(async (axeSource) => {
    new Function(axeSource)();
    const { axe } = globalThis as unknown as {
      axe: { run(): Promise<{ passes: unknown[]; violations: { id: string; impact: string }[] }> };
    };
    const report = await axe.run();
    return {
      passes: report.passes.length,
      violations: report.violations.map((v) => ({ id: v.id, impact: v.impact })),
    };
  }, source);
}

/** The violations a console page may not have. */
export const seriousViolations = (result: AxeResult) =>
  result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
