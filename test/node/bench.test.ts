// npm run bench, run small so it cannot rot: it starts its own stack, measures, and writes its results
// file. Asserts what the run found about round trips and waits (behaviour), never timings.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

/** What the bench found for one quiet wait or events stream. */
interface Quiet {
  served: boolean;
  status: number;
  request_status?: unknown;
  events?: number;
  statements: number;
}

describe("npm run bench", () => {
  it("measures the floors and scenarios and counts one round trip for eval and create, two for approve; wakes every held wait", async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), "bench-")), "results.json");
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          path.join(root, "scripts/bench.ts"),
          ...[
            "--requests",
            "10",
            "--concurrency",
            "2",
            "--scenarios",
            "eval,create,approve,wait",
            "--out",
            out,
          ],
          // The wait scenario small: two waits held (the stack's per-key bound, so a third is refused),
          // approved at one concurrency, and a 2 s quiet wait and stream instead of 30 s.
          ...["--waits", "2", "--approve-concurrency", "10", "--quiet-wait-seconds", "2"],
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
      waits: {
        wake: {
          waits: number;
          approved: number;
          held: {
            connections: number;
            requests_read: number;
            answered_early: number;
            probe?: { status: number; limiter: unknown };
          };
          worker_warnings: Record<string, number>;
          problems: string[];
        }[];
        quiet_wait: Quiet;
        quiet_stream: Quiet;
      };
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

    // Both waits were held at once (two connections, both requests read by the worker, none answered
    // before the approvals, a third wait refused by the per-key bound), then both woke approved.
    expect(results.waits.wake).toHaveLength(1);
    const [wake] = results.waits.wake;
    expect(wake).toMatchObject({
      waits: 2,
      approved: 2,
      held: {
        connections: 2,
        requests_read: 2,
        answered_early: 0,
        probe: { status: 429, limiter: "open_waits_per_key" },
      },
      worker_warnings: {},
      problems: [],
    });
    // A quiet wait reads its request when it starts and at its end: nothing in between polls.
    const { quiet_wait: quiet, quiet_stream: stream } = results.waits;
    expect(quiet).toMatchObject({ served: true, status: 200, request_status: "pending" });
    expect(quiet.statements).toBeGreaterThanOrEqual(1);
    expect(quiet.statements).toBeLessThanOrEqual(4);
    // The stream sent the request's current state, then nothing while it stayed pending.
    expect(stream).toMatchObject({ served: true, status: 200, events: 1 });
    expect(stream.statements).toBeGreaterThanOrEqual(1);
    expect(stream.statements).toBeLessThanOrEqual(4);
  }, 240_000);
});
