// The access rules themselves (src/domain/access.ts): the HTTP matrix proves the routes use them.
import { describe, expect, it } from "vitest";
import {
  approvalIdentity,
  can,
  inTenantScope,
  isSelfApproval,
  PERMISSION_ACTIONS,
  PERMISSIONS,
  type Principal,
  rolesWith,
} from "../src/domain/access.ts";
import { generateApiKey, parseApiKey, secretMatches } from "../src/domain/api-keys.ts";
import { digestsEqual } from "../src/domain/encoding.ts";
import { ApiError } from "../src/lib/errors.ts";
import { assertCan } from "../src/lib/permissions.ts";

const approver: Principal = {
  keyId: "k1",
  principalId: "carol",
  role: "approver",
  maxLevel: 4,
  tenantId: "acme",
  agentIds: null,
};

describe("roles", () => {
  it("gives agents evaluation and their own requests, approvers decisions, admins everything", () => {
    expect(rolesWith("policy:evaluate")).toEqual(["agent", "admin"]);
    expect(rolesWith("decisions:read")).toEqual(["agent", "approver", "admin"]);
    expect(rolesWith("usage:report")).toEqual(["agent", "admin"]);
    expect(rolesWith("requests:create")).toEqual(["agent", "admin"]);
    expect(rolesWith("requests:read")).toEqual(["agent", "approver", "admin"]);
    expect(rolesWith("requests:cancel")).toEqual(["agent", "admin"]);
    expect(rolesWith("requests:decide")).toEqual(["approver", "admin"]);
    expect(rolesWith("policies:manage")).toEqual(["admin"]);
    expect(rolesWith("keys:manage")).toEqual(["admin"]);
    expect(rolesWith("emergency")).toEqual(["admin"]);
    expect(can({ role: "agent" }, "requests:decide")).toBe(false);
  });

  it("refuses with one 403 that names the role, the action and the permission, and lets the holder through", () => {
    const refusal = (() => {
      try {
        assertCan({ role: "approver" }, "policy:evaluate");
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(ApiError);
    expect(refusal).toMatchObject({
      code: "forbidden",
      status: 403,
      message: "The approver role may not evaluate skill calls (policy:evaluate)",
    });
    expect(() => assertCan({ role: "agent" }, "policy:evaluate")).not.toThrow();
    for (const permission of PERMISSIONS) expect(PERMISSION_ACTIONS[permission]).toMatch(/^[a-z]/);
  });
});

describe("tenant scope", () => {
  it("confines a scoped key to its tenant and lets an unscoped key see all", () => {
    expect(inTenantScope(approver, "acme")).toBe(true);
    expect(inTenantScope(approver, "globex")).toBe(false);
    expect(inTenantScope({ tenantId: null }, "globex")).toBe(true);
  });
});

describe("approval identity", () => {
  it("takes identity and level from the key when the body names neither", () => {
    expect(approvalIdentity(approver, {})).toEqual({ allowed: true, approverId: "carol", level: 4 });
  });

  it("accepts a body approver_id only when it is the key's principal", () => {
    expect(approvalIdentity(approver, { approver_id: "carol" })).toMatchObject({ allowed: true });
    expect(approvalIdentity(approver, { approver_id: "mallory" })).toEqual({
      allowed: false,
      reason: `approver_id must be the API key's own principal: send "carol" or omit it`,
    });
  });

  it("lets a body level lower the key's level, never raise it, by number or name", () => {
    expect(approvalIdentity(approver, { level: 3 })).toMatchObject({ allowed: true, level: 3 });
    expect(approvalIdentity(approver, { level: "pre_approved" })).toMatchObject({ allowed: true, level: 2 });
    expect(approvalIdentity(approver, { level: 5 })).toMatchObject({ allowed: false });
    expect(approvalIdentity(approver, { level: "owner_override" })).toMatchObject({ allowed: false });
  });

  it("refuses unknown level names instead of guessing one", () => {
    expect(approvalIdentity(approver, { level: "supreme" })).toEqual({
      allowed: false,
      reason: "unknown approval level: supreme",
    });
    expect(approvalIdentity(approver, { level: 0 })).toMatchObject({ allowed: false });
  });
});

describe("self-approval", () => {
  it("refuses the named requester and the key that filed the request", () => {
    expect(isSelfApproval(approver, { requestedBy: "carol" })).toBe(true);
    expect(isSelfApproval(approver, { requestedBy: "bot-7", createdByKeyId: "k1" })).toBe(true);
    expect(isSelfApproval(approver, { requestedBy: "bot-7", createdByKeyId: "k2" })).toBe(false);
  });
});

describe("key tokens", () => {
  it("round-trips a generated key and rejects look-alikes", async () => {
    const key = await generateApiKey();
    expect(parseApiKey(key.token)).toEqual({ keyId: key.keyId, secret: key.secret });
    expect(await secretMatches(key.secret, key.secretHash)).toBe(true);
    const otherSecret = key.secret.replace(/^./, (first) => (first === "A" ? "B" : "A"));
    expect(await secretMatches(otherSecret, key.secretHash)).toBe(false);
    for (const bad of [
      "",
      "pak_",
      `pk_${key.keyId}_${key.secret}`,
      `${key.token} `,
      key.token.toUpperCase(),
    ]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });

  it("compares digests without short-circuiting on length or content", () => {
    expect(digestsEqual("abcd", "abcd")).toBe(true);
    expect(digestsEqual("abcd", "abce")).toBe(false);
    expect(digestsEqual("abcd", "abc")).toBe(false);
  });

  it("generates distinct keys", async () => {
    const tokens = new Set(
      await Promise.all(Array.from({ length: 50 }, async () => (await generateApiKey()).token)),
    );
    expect(tokens.size).toBe(50);
  });
});
