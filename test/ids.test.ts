// Minted ids (src/domain/ids.ts) are drawn from a pool of CSPRNG bytes refilled a kilobyte at a time
// (issue 30): every id keeps its format, and no byte is handed out twice, across refills too.
import { describe, expect, it } from "vitest";
import { toHex } from "../src/domain/encoding.ts";
import {
  DECISION_ID_PATTERN,
  newCorrelationId,
  newDecisionId,
  newHttpRequestId,
  newRequestId,
  REQUEST_ID_PATTERN,
} from "../src/domain/ids.ts";

describe("minted ids", () => {
  it("keep their format and never repeat across many pool refills", () => {
    const seen = new Set<string>();
    // 20,000 ids of mixed lengths: about 350 KB of random bytes, some 340 refills of the pool.
    for (let i = 0; i < 5_000; i += 1) {
      const ids = [newRequestId(), newCorrelationId(), newDecisionId(), newHttpRequestId()];
      expect(ids[0]).toMatch(REQUEST_ID_PATTERN);
      expect(ids[1]).toMatch(/^cor_[0-9a-f]{32}$/);
      expect(ids[2]).toMatch(DECISION_ID_PATTERN);
      expect(ids[3]).toMatch(/^req_[0-9a-f]{32}$/);
      for (const id of ids) seen.add(id.slice(4));
    }
    expect(seen.size).toBe(20_000);
  });

  it("spread their bytes evenly (no byte value missing or favoured over 64,000 ids)", () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 64_000; i += 1) {
      const hex = newRequestId().slice(4);
      for (let at = 0; at < hex.length; at += 2) {
        const byte = Number.parseInt(hex.slice(at, at + 2), 16);
        counts[byte] = (counts[byte] ?? 0) + 1;
      }
    }
    // 512,000 bytes: 2,000 expected per value; a fair source stays within 5.6 standard deviations (±250).
    expect(Math.min(...counts)).toBeGreaterThan(1_750);
    expect(Math.max(...counts)).toBeLessThan(2_250);
  });

  it("hex-encode every byte value as two lower-case digits", () => {
    const all = Uint8Array.from({ length: 256 }, (_, byte) => byte);
    expect(toHex(all)).toBe(Array.from(all, (byte) => byte.toString(16).padStart(2, "0")).join(""));
  });
});
