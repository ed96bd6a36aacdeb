// The rate limiters as deployed (wrangler.toml, read by wrangler's own config reader) agree with the
// code's table (Retry-After comes from it) and with the limits docs/API.md documents.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { LIMITERS } from "../../src/domain/rate-limits.ts";

interface RateLimitConfig {
  name: string;
  namespace_id: string;
  simple: { limit: number; period: number };
}
// wrangler's published types leave this list untyped.
const ratelimits = unstable_readConfig({ config: "wrangler.toml" }).ratelimits as RateLimitConfig[];
const apiDoc = readFileSync("docs/API.md", "utf8");

describe("rate limit configuration", () => {
  it("declares one [[ratelimits]] binding per limiter, with the period the code answers in Retry-After", () => {
    const declared = Object.fromEntries(ratelimits.map((limit) => [limit.name, limit.simple.period]));
    const expected = Object.fromEntries(Object.values(LIMITERS).map((l) => [l.binding, l.period]));
    expect(declared).toEqual(expected);
  });

  it("uses namespace ids unique within the file", () => {
    const ids = ratelimits.map((limit) => limit.namespace_id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("documents each limit in docs/API.md as deployed", () => {
    for (const limit of ratelimits) {
      const row = apiDoc
        .split("\n")
        .find((line) => line.startsWith("|") && line.includes(`\`${limit.name}\``));
      expect(row, `docs/API.md row for ${limit.name}`).toBeDefined();
      expect(row).toContain(`${limit.simple.limit} per ${limit.simple.period} s`);
    }
  });
});
