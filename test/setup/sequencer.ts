// Starts the long test files first, so on a small machine (CI: 2 cores, 2 lanes) no long file starts
// last and runs alone at the end. Vitest's own order runs the slowest first only when it has the
// timings of an earlier run (its cache, gone after `npm ci`); without them it goes by file size, and
// the longest files (each starts a whole `wrangler dev` stack) are small ones.
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Longest first, as measured on a 2-core machine (seconds alone, rounded). Files not listed keep
 * Vitest's order after these. A stale list only costs time, never a test. The files that run alone
 * (ALONE in vitest.config.ts) are not here: their group runs after this one.
 */
export const SLOW_FILES = [
  "test/node/runbook.test.ts", // 120: every runbook command against its own stack
  "test/node/bench.test.ts", // 55: its own stack, a small benchmark
  "test/node/cli-help.test.ts", // 50: every CLI started ~3 times, two at a time
  "test/node/console-mobile.test.ts", // 45: its own stack, a browser, 1,000 requests paged
  "test/node/keys-cli.test.ts", // 30
  "test/node/ops-stack.test.ts", // 30: its own stack
  "test/node/sdk-python.test.ts", // 26
  "test/node/sdk-typescript.test.ts", // 25
  "test/node/policy-cli.test.ts", // 25: its own stack, the README's policy walkthrough
  "test/node/console-browser.test.ts", // 20: its own stack and a browser
  "test/node/doc-blocks.test.ts", // 17: its own stack, the README's and docs' runnable blocks
  "test/events-stream.test.ts", // 19
  "test/database-unavailable.test.ts", // 15
  "test/wait-wake.test.ts", // 15
  "test/node/mcp-agent.test.ts", // 10: its own stack
];

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = SLOW_FILES.findIndex((file) => spec.moduleId.endsWith(`/${file}`));
      return index === -1 ? SLOW_FILES.length : index;
    };
    // Groups (sequence.groupOrder) still run in order; sort is stable, so unlisted files keep
    // Vitest's order.
    const group = (spec: TestSpecification) => spec.project.config.sequence.groupOrder;
    return sorted.sort((a, b) => group(a) - group(b) || rank(a) - rank(b));
  }
}
