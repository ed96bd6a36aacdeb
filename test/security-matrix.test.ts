// The security matrix: every operation in /openapi.json except the public ones is tried with no key,
// garbage, an unknown key, a revoked key and every role. Routes added later are covered as soon as
// they appear in the document; their own tenant, level and self-approval cases live with them.
import { beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../src/domain/api-keys.ts";
import { call } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const PUBLIC_OPERATIONS = new Set(["GET /health", "GET /openapi.json"]);

interface Operation {
  method: string;
  path: string;
  roles: Role[];
  secured: boolean;
}

async function operations(): Promise<Operation[]> {
  const doc = (await (await call("/openapi.json")).json()) as {
    paths: Record<string, Record<string, { security?: unknown[]; "x-roles"?: Role[] }>>;
  };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      roles: op["x-roles"] ?? [],
      secured: (op.security?.length ?? 0) > 0,
    })),
  );
}

/** A concrete URL for a templated path: parameters get well-formed placeholder values. */
const PLACEHOLDERS: Record<string, string> = {
  key_id: "0123456789abcdef",
  decision_id: `dec_${"0".repeat(20)}`,
  id: "1",
};

function concrete(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => PLACEHOLDERS[name] ?? "apr_0123456789abcdef");
}

function send(op: Operation, headers: Record<string, string> = {}) {
  const hasBody = !["GET", "DELETE"].includes(op.method);
  return call(concrete(op.path), {
    method: op.method,
    headers: hasBody ? { ...headers, "Content-Type": "application/json" } : headers,
    body: hasBody ? "{}" : undefined,
  });
}

const keys = {} as Record<Role | "revoked", TestKey>;
let ops: Operation[];

beforeAll(async () => {
  ops = await operations();
  keys.agent = await createTestKey("agent", { tenantId: "acme" });
  keys.approver = await createTestKey("approver", { maxLevel: 4 });
  keys.admin = await createTestKey("admin");
  keys.revoked = await createTestKey("admin", { revoked: true });
});

describe("security matrix", () => {
  it("covers at least the key management routes", () => {
    const names = ops.map((op) => `${op.method} ${op.path}`);
    expect(names).toEqual(
      expect.arrayContaining([
        "POST /api/v1/admin/keys",
        "GET /api/v1/admin/keys",
        "DELETE /api/v1/admin/keys/{key_id}",
      ]),
    );
  });

  it("leaves only health and the API docs public; every other operation declares the key scheme and its roles", () => {
    for (const op of ops) {
      const name = `${op.method} ${op.path}`;
      if (PUBLIC_OPERATIONS.has(name)) continue;
      expect(op.secured, `${name} declares no security`).toBe(true);
      expect(op.roles.length, `${name} declares no roles`).toBeGreaterThan(0);
    }
  });

  it("answers 401 with a Bearer challenge to no key, garbage, an unknown key and a revoked key", async () => {
    const unknown = `pak_${"f".repeat(16)}_${"A".repeat(43)}`;
    const attempts: [string, Record<string, string>][] = [
      ["no key", {}],
      ["garbage", { Authorization: "Bearer garbage" }],
      ["wrong scheme", { Authorization: `Basic ${btoa("admin:admin")}` }],
      ["unknown key", { Authorization: `Bearer ${unknown}` }],
      ["revoked key", keys.revoked.headers],
    ];
    for (const op of ops.filter((o) => o.secured)) {
      for (const [label, headers] of attempts) {
        const res = await send(op, headers);
        expect(res.status, `${op.method} ${op.path} with ${label}`).toBe(401);
        expect(res.headers.get("www-authenticate"), `${op.method} ${op.path} with ${label}`).toMatch(
          /^Bearer /,
        );
      }
    }
  });

  it("answers 403 to every role an operation does not list, before looking at its input", async () => {
    for (const op of ops.filter((o) => o.secured)) {
      for (const role of (["agent", "approver", "admin"] as const).filter((r) => !op.roles.includes(r))) {
        const res = await send(op, keys[role].headers);
        expect(res.status, `${op.method} ${op.path} as ${role}`).toBe(403);
      }
    }
  });

  it("lets every listed role past authorization (the placeholder input may then be refused as 400/404)", async () => {
    for (const op of ops.filter((o) => o.secured)) {
      for (const role of op.roles) {
        const res = await send(op, keys[role].headers);
        expect([401, 403], `${op.method} ${op.path} as ${role}`).not.toContain(res.status);
      }
    }
  });
});
