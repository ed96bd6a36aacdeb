// npm run bench, run small so it cannot rot: it starts its own stack, measures, and writes its results
// file. Asserts what the run found about round trips (behaviour), never timings.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

describe("npm run bench", () => {
  it("measures the floors and scenarios and counts one round trip for eval and create, two for approve", async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), "bench-")), "results.json");
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          path.join(root, "scripts/bench.ts"),
          ...["--requests", "10", "--concurrency", "2", "--scenarios", "eval,create,approve", "--out", out],
        ],
        { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    expect(output).toContain("== small tables");
    const results = JSON.parse(readFileSync(out, "utf8")) as {
      machine: { cores: number };
      round_trips: { scenario: string; on_path_round_trips: number }[];
      small_tables: { scenario: string; concurrency: number; success: number; vs_db_floor?: unknown }[];
    };
    expect(results.machine.cores).toBeGreaterThan(0);
    const trips = Object.fromEntries(
      results.round_trips.map((entry) => [entry.scenario, entry.on_path_round_trips]),
    );
    expect(trips).toMatchObject({ "floor-runtime": 0, "floor-db": 1, eval: 1, create: 1, approve: 2 });
    expect(results.small_tables.map((entry) => entry.scenario).sort()).toEqual(
      ["approve", "create", "eval", "floor-db", "floor-runtime"].sort(),
    );
    for (const entry of results.small_tables) {
      expect(entry.success, entry.scenario).toBe(100);
      expect(entry.vs_db_floor, entry.scenario).toBeDefined();
    }
  }, 240_000);
});
