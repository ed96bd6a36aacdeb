// The local gateway's own edges (its fidelity is tested through the real driver in test/neon-driver.test.ts).
import { createRequire } from "node:module";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import type WsWebSocket from "ws";
import { startNeonGateway } from "../../scripts/lib/neon-gateway.ts";

const WebSocket = createRequire(import.meta.url)("ws") as typeof WsWebSocket;

const gateway = inject("gatewayUrl");
const connectionString = inject("adminDatabaseUrl");

function post(body: string, headers: Record<string, string> = {}) {
  return fetch(`${gateway}/sql`, {
    method: "POST",
    headers: { "Neon-Connection-String": connectionString, "Content-Type": "application/json", ...headers },
    body,
  });
}

describe("local Neon gateway", () => {
  it("answers a query in Neon's shape, values as text", async () => {
    const res = await post(
      JSON.stringify({ query: "SELECT $1::int + 1 AS n, NULL::text AS t", params: ["41"] }),
      {
        "Neon-Array-Mode": "true",
      },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      command: string;
      rowCount: number;
      rows: unknown[];
      fields: { name: string }[];
    };
    expect(body).toMatchObject({ command: "SELECT", rowCount: 1, rows: [["42", null]] });
    expect(body.fields.map((field) => field.name)).toEqual(["n", "t"]);
  });

  it("answers object rows when array mode is off", async () => {
    const res = await post(JSON.stringify({ query: "SELECT 1 AS one" }));
    expect(((await res.json()) as { rows: unknown[] }).rows).toEqual([{ one: "1" }]);
  });

  it("rejects requests without a connection string, bad JSON and bad shapes with 400", async () => {
    const noConnection = await fetch(`${gateway}/sql`, {
      method: "POST",
      body: JSON.stringify({ query: "SELECT 1" }),
    });
    expect(noConnection.status).toBe(400);
    expect((await post("{nope")).status).toBe(400);
    expect((await post(JSON.stringify({ queries: [{ nope: 1 }] }))).status).toBe(400);
    const bogusIsolation = await post(JSON.stringify({ queries: [{ query: "SELECT 1" }] }), {
      "Neon-Batch-Isolation-Level": "Bogus",
    });
    expect(bogusIsolation.status).toBe(400);
  });

  it("answers SQL errors as 400 with the SQLSTATE fields", async () => {
    const res = await post(JSON.stringify({ query: "SELECT * FROM no_such_table" }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: "42P01",
      message: 'relation "no_such_table" does not exist',
    });
  });

  it("answers 503 when the database is unreachable", async () => {
    const res = await post(JSON.stringify({ query: "SELECT 1" }), {
      "Neon-Connection-String": "postgresql://postgres:postgres@127.0.0.1:1/postgres",
    });
    expect(res.status).toBe(503);
  });

  it("refuses bodies over its size limit with 413", async () => {
    const res = await post(JSON.stringify({ query: `SELECT '${"x".repeat(11 * 1024 * 1024)}'` }));
    expect(res.status).toBe(413);
  });

  it("refuses WebSocket proxying to hosts that are not local", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${gateway.replace("http", "ws")}/v1?address=203.0.113.7:5432`);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => reject(new Error("the proxy accepted a non-local address")));
      ws.on("error", () => {});
    });
    expect(status).toBe(400);
  });

  it("proxies WebSocket bytes to the local database", async () => {
    const ws = new WebSocket(`${gateway.replace("http", "ws")}/v1?address=${new URL(connectionString).host}`);
    await new Promise((resolve, reject) => {
      ws.on("open", resolve);
      ws.on("error", reject);
    });
    // An SSLRequest: Postgres answers one byte, 'N' (no TLS on the local server).
    const answer = new Promise<Buffer>((resolve) => ws.once("message", (data: Buffer) => resolve(data)));
    ws.send(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]));
    expect((await answer).toString()).toBe("N");
    ws.close();
  });

  it("answers unknown paths with 404", async () => {
    expect((await fetch(`${gateway}/nope`)).status).toBe(404);
  });
});

describe("local Neon gateway under faults (its own instance)", () => {
  it("stalls on demand: holds queries and WebSocket upgrades unanswered, drops them on release, then serves", async () => {
    const own = await startNeonGateway();
    const query = (signal?: AbortSignal) =>
      fetch(`${own.url}/sql`, {
        method: "POST",
        headers: { "Neon-Connection-String": connectionString },
        body: JSON.stringify({ query: "SELECT 1 AS one" }),
        ...(signal ? { signal } : {}),
      });
    try {
      own.stall(true);
      const timedOut = await query(AbortSignal.timeout(300)).catch((error: unknown) => error);
      expect((timedOut as Error).name).toBe("TimeoutError");
      const held = query().catch((error: unknown) => error);
      const ws = new WebSocket(
        `${own.url.replace("http", "ws")}/v1?address=${new URL(connectionString).host}`,
      );
      const wsOutcome = new Promise<string>((resolve) => {
        ws.on("open", () => resolve("open"));
        ws.on("error", () => resolve("error"));
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      own.stall(false);
      expect(await held).toBeInstanceOf(Error);
      expect(await wsOutcome).toBe("error");
      expect((await query()).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  it("survives the database ending a session mid-request: the request fails, the process does not", async () => {
    const own = await startNeonGateway();
    const admin = new pg.Client({ connectionString });
    await admin.connect();
    try {
      const tag = `gateway-fault-${crypto.randomUUID()}`;
      const request = fetch(`${own.url}/sql`, {
        method: "POST",
        headers: { "Neon-Connection-String": connectionString },
        body: JSON.stringify({
          queries: [{ query: `SELECT pg_sleep(5) /* ${tag} */` }, { query: "SELECT 1" }],
        }),
      });
      // Wait for the statement to run, then end its session as a server shutdown would.
      for (let i = 0; i < 100; i++) {
        const { rows } = await admin.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
          [`%${tag}%`],
        );
        if (rows[0]) {
          await admin.query("SELECT pg_terminate_backend($1)", [rows[0].pid]);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const res = await request;
      expect([400, 503]).toContain(res.status);
      // Served again from a fresh connection.
      const again = await fetch(`${own.url}/sql`, {
        method: "POST",
        headers: { "Neon-Connection-String": connectionString },
        body: JSON.stringify({ query: "SELECT 1 AS one" }),
      });
      expect(again.status).toBe(200);
      // Let a late 'error' event from the ended connection surface, were it unhandled.
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await admin.end();
      await own.close();
    }
  });
});
