// Issue 23: Postgres error messages repeat the values they refused (`invalid input syntax for type
// integer: "…"`), and they used to reach the error log verbatim, though the statement's parameters
// were withheld. A database error is logged by its SQLSTATE, condition and the names Postgres gives
// (constraint, table, column, type), never by its message or detail. Provoked through the REST entry
// point and the cron, then every log line is scanned for the refused value.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../src/index.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const REQUESTS = "/api/v1/policy/requests";

let agent: TestKey;

beforeAll(async () => {
  agent = await createTestKey("agent", { principalId: "errlog-bot" });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Every console.log line while `run` runs. */
async function logLines(run: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    await run();
  } finally {
    vi.restoreAllMocks();
  }
  return lines;
}

/** The `error` field of the one line logged as `msg`, as parsed JSON, with its causes flattened. */
function errorChain(lines: string[], msg: string): Record<string, unknown>[] {
  const line = lines.find((entry) => entry.includes(`"msg":"${msg}"`));
  expect(line, `no ${msg} line in:\n${lines.join("\n")}`).toBeDefined();
  const chain: Record<string, unknown>[] = [];
  let error = (JSON.parse(String(line)) as { error?: Record<string, unknown> }).error;
  while (error) {
    chain.push(error);
    error = error.cause as Record<string, unknown> | undefined;
  }
  return chain;
}

describe("a database error in the log", () => {
  it("through the API: a value Postgres refused to cast is not repeated, its SQLSTATE and condition are", async () => {
    const tenant = "errlog-cast";
    const marker = "REFUSED-VALUE-7Hq2";
    // A rule on the table that casts a payload field, as a check a DBA might add: the request's own
    // value then meets Postgres's integer parser, whose message quotes it.
    await testSql().query(
      `ALTER TABLE approval_requests ADD CONSTRAINT cast_probe CHECK (tenant_id <> '${tenant}' OR (payload->>'n')::int > 0)`,
    );
    let lines: string[];
    try {
      lines = await logLines(async () => {
        const res = await postJson(
          REQUESTS,
          {
            policy_type: "cost",
            skill_id: "a.b",
            tenant_id: tenant,
            requested_by: "errlog-bot",
            payload: { n: marker },
          },
          agent.headers,
        );
        expect(res.status).toBe(500);
      });
    } finally {
      await testSql().query("ALTER TABLE approval_requests DROP CONSTRAINT cast_probe");
    }
    expect(lines.join("\n")).not.toContain(marker);
    const chain = errorChain(lines, "unhandled_error");
    const database = chain.find((error) => error.code === "22P02");
    expect(database, JSON.stringify(chain)).toMatchObject({
      code: "22P02",
      condition: "invalid_text_representation",
      message: expect.stringContaining("withheld from logs"),
    });
    expect(JSON.stringify(database)).not.toMatch(/invalid input syntax/);
  });

  it("through the API: a constraint violation names the constraint, not the failing row", async () => {
    const tenant = "errlog-check";
    const marker = "ROW-VALUE-MARKER-5521";
    await testSql().query(
      `ALTER TABLE approval_requests ADD CONSTRAINT row_probe CHECK (tenant_id <> '${tenant}')`,
    );
    let lines: string[];
    try {
      lines = await logLines(async () => {
        const res = await postJson(
          REQUESTS,
          {
            policy_type: "cost",
            skill_id: "a.b",
            tenant_id: tenant,
            requested_by: "errlog-bot",
            justification: marker,
          },
          agent.headers,
        );
        expect(res.status).toBe(500);
      });
    } finally {
      await testSql().query("ALTER TABLE approval_requests DROP CONSTRAINT row_probe");
    }
    expect(lines.join("\n")).not.toContain(marker);
    const database = errorChain(lines, "unhandled_error").find((error) => error.code === "23514");
    expect(database).toMatchObject({
      condition: "check_violation",
      constraint: "row_probe",
      table: "approval_requests",
    });
  });

  it("through the cron: a tampered escalation chain fails the run, and its value stays out of the log", async () => {
    const marker = "TIER-VALUE-9Zk4";
    const res = await postJson(
      REQUESTS,
      { policy_type: "cost", skill_id: "a.b", tenant_id: "errlog-cron", requested_by: "errlog-bot" },
      agent.headers,
    );
    expect(res.status).toBe(200);
    const { request_id } = (await res.json()) as { request_id: string };
    // Due now, with a second tier whose delay is not a number: the escalation step casts it.
    await testSql().query(
      `UPDATE approval_requests SET escalation_deadline = now() - interval '1 minute',
         policy_snapshot = jsonb_set(policy_snapshot, '{escalation_chain}', $2::jsonb)
       WHERE id = $1`,
      [
        request_id,
        JSON.stringify([
          { after_seconds: 60, escalate_to: "tier-1" },
          { after_seconds: marker, escalate_to: "tier-2" },
        ]),
      ],
    );
    let lines: string[];
    try {
      lines = await logLines(async () => {
        const ctx = createExecutionContext();
        await expect(
          worker.scheduled(
            createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }),
            testEnv(),
            ctx,
          ),
        ).rejects.toThrow();
        await waitOnExecutionContext(ctx);
      });
    } finally {
      // Leave nothing due for another run of this file's database.
      await testSql().query("UPDATE approval_requests SET escalation_deadline = NULL WHERE id = $1", [
        request_id,
      ]);
    }
    expect(lines.join("\n")).not.toContain(marker);
    const database = errorChain(lines, "escalation_run_failed").find((error) => error.code === "22P02");
    expect(database).toMatchObject({ condition: "invalid_text_representation" });
  });
});
