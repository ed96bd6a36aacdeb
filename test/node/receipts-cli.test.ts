// npm run receipts (scripts/receipts.ts, scripts/lib/receipts-cli.ts): keygen makes a key the worker
// imports, and verify checks a receipt offline as a tool runner does — against a saved key set or one
// served over HTTP — refusing another payload, another request, a forged receipt and a bad key set,
// with the exit codes a shell script branches on.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runReceiptsCli } from "../../scripts/lib/receipts-cli.ts";
import { canonicalJson, sha256Hex } from "../../src/domain/encoding.ts";
import { receiptClaims } from "../../src/domain/receipts.ts";
import { importReceiptSigningKey, signReceipt } from "../../src/lib/receipts.ts";

const SCRIPT = path.resolve(import.meta.dirname, "../../scripts/receipts.ts");
const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), "receipts-cli-"));
const PAYLOAD = { amount: 120, to: "acct-9" };

let receipt: string;
let jwksFile: string;
let server: http.Server;
let jwksUrl: string;

/** `verify` of the receipt with the approved payload against the saved key set: allowed. */
const verifyApproved = () => [
  "verify",
  receipt,
  "--payload",
  JSON.stringify(PAYLOAD),
  "--jwks",
  `@${jwksFile}`,
];

async function cli(args: string[], stdin = "") {
  let stdout = "";
  let stderr = "";
  const code = await runReceiptsCli(args, {
    write: (text, stream = "stdout") => {
      if (stream === "stdout") stdout += text;
      else stderr += text;
    },
    readStdin: async () => stdin,
    fetch,
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  const keygen = await cli(["keygen"]);
  expect(keygen.code).toBe(0);
  const secret = /^RECEIPT_SIGNING_KEY=(\S+)$/m.exec(keygen.stdout)?.[1] ?? "";
  const key = await importReceiptSigningKey(secret);
  expect(keygen.stdout).toContain(`kid=${key.kid}`);
  const claims = receiptClaims(
    {
      requestId: "apr_00000000000000aa",
      tenantId: "acme",
      agentId: "bot-1",
      skillId: "payments.transfer",
      policyType: "cost",
      payloadSha256: await sha256Hex(canonicalJson(PAYLOAD)),
      filedPayloadSha256: await sha256Hex(canonicalJson(PAYLOAD)),
      requiredLevel: 3,
      decision: "approved",
      approvals: [{ approver_id: "carol", level: 4, action: "approve", notes: null, timestamp: "" }],
    },
    "rcp_00000000000000000001",
    new Date(),
    900,
  );
  receipt = await signReceipt(key, claims);
  const jwks = JSON.stringify({ keys: [key.publicJwk] });
  jwksFile = path.join(dir, "jwks.json");
  writeFileSync(jwksFile, jwks);
  server = http.createServer((_req, res) =>
    res.writeHead(200, { "Content-Type": "application/json" }).end(jwks),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("npm run receipts -- verify", () => {
  it("allows the approved payload (claims printed), from a saved key set or over HTTP, and from stdin", async () => {
    const saved = await cli(verifyApproved());
    expect(saved.code).toBe(0);
    expect(JSON.parse(saved.stdout)).toMatchObject({
      sub: "apr_00000000000000aa",
      approvers: [{ approver_id: "carol" }],
    });
    // Key order does not matter: the hash is of the canonical JSON.
    const served = await cli(
      ["verify", "-", "--payload", '{"to":"acct-9","amount":120}', "--jwks", jwksUrl],
      receipt,
    );
    expect(served.code).toBe(0);
    const payloadFile = path.join(dir, "payload.json");
    writeFileSync(payloadFile, JSON.stringify(PAYLOAD));
    const fromFile = await cli([
      "verify",
      receipt,
      "--payload",
      `@${payloadFile}`,
      "--request",
      "apr_00000000000000aa",
      "--jwks",
      jwksUrl,
    ]);
    expect(fromFile.code).toBe(0);
  });

  it("refuses another payload, another request, a forged receipt and an unknown key: exit 1, never the claims", async () => {
    const cases: [string[], string][] = [
      [[receipt, "--payload", '{"amount":121,"to":"acct-9"}'], "payload_mismatch"],
      [
        [receipt, "--payload", JSON.stringify(PAYLOAD), "--request", "apr_00000000000000bb"],
        "request_mismatch",
      ],
      [[`${receipt.slice(0, -4)}AAAA`, "--payload", JSON.stringify(PAYLOAD)], "bad_signature"],
    ];
    for (const [args, why] of cases) {
      const result = await cli(["verify", ...args, "--jwks", `@${jwksFile}`]);
      expect(result.code, why).toBe(1);
      expect(result.stderr, why).toContain(`refused: ${why}`);
      expect(result.stdout, why).toBe("");
    }
    const empty = path.join(dir, "empty.json");
    writeFileSync(empty, '{"keys":[]}');
    expect(
      (await cli(["verify", receipt, "--payload", JSON.stringify(PAYLOAD), "--jwks", `@${empty}`])).stderr,
    ).toContain("refused: unknown_key");
    const notJwks = await cli([
      "verify",
      receipt,
      "--payload",
      "{}",
      "--jwks",
      `${jwksUrl.replace(/\d+\/\.well/, "1/.well")}`,
    ]);
    expect(notJwks.code).toBe(1);
    expect(notJwks.stderr).toContain("could not read the key set");
  });

  it("usage errors exit 2; --help prints usage; the real script exits with the same codes", async () => {
    expect((await cli(["verify", receipt])).code).toBe(2);
    expect((await cli(["verify", receipt, "--payload", "{nope"])).stderr).toContain("--payload is not JSON");
    expect((await cli(["frobnicate"])).code).toBe(2);
    expect((await cli(["--bogus"])).code).toBe(2);
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: npm run receipts");
    const ok = await run(process.execPath, [SCRIPT, ...verifyApproved()]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ jti: "rcp_00000000000000000001" });
    await expect(
      run(process.execPath, [SCRIPT, "verify", receipt, "--payload", "{}", "--jwks", `@${jwksFile}`]),
    ).rejects.toMatchObject({
      code: 1,
    });
  });
});
