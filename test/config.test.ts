// The configuration (src/config.ts): one schema for the vars and secrets, parsed once per env object,
// with the documented defaults and clamps. A bad value fails the first request or queue batch that
// needs the configuration, with an internal_error naming the variable and what is wrong, never its
// value: not in the answer, not in a log line.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { type ConfigBindings, ConfigError, DEFAULT_WEBHOOK_TIMEOUT_MS, loadConfig } from "../src/config.ts";
import type { Bindings } from "../src/env.ts";
import worker from "../src/index.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

/** The problems loadConfig reports for `env`, or [] when it parses. */
function problemsOf(env: ConfigBindings): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe("the schema", () => {
  it("gives the documented defaults when nothing is set", () => {
    expect(loadConfig({})).toEqual({
      SERVICE_VERSION: undefined,
      LOG_LEVEL: "info",
      RATE_LIMITS: true,
      OPEN_WAITS_PER_KEY: 20,
      OPEN_WAITS_PER_TENANT: 200,
      WAIT_RECHECK_SECONDS: 15,
      EVENTS_HEARTBEAT_SECONDS: 15,
      ALLOW_INSECURE_WEBHOOKS: false,
      WEBHOOK_TIMEOUT_MS: 10_000,
      CONSOLE_BASE_URL: "http://127.0.0.1:8000",
      NOTIFY_EMAIL_FROM: undefined,
      NOTIFY_REMINDERS: [50, 90],
      VAPID_SUBJECT: "mailto:policy-api@localhost",
      SLACK_API_BASE_URL: "https://slack.com/api/",
      WEBHOOK_DNS_RESOLVER: "https://cloudflare-dns.com/dns-query",
      WEBHOOK_SIGNING_SECRETS: [],
      WEBHOOK_ENCRYPTION_KEY: undefined,
      AUDIT_SIGNING_KEY: undefined,
      RECEIPT_SIGNING_KEY: undefined,
      RECEIPT_TTL_SECONDS: 900,
      ADMIN_API_KEY: undefined,
      METRICS_TOKEN: undefined,
      CF_ACCOUNT_ID: undefined,
      CF_ANALYTICS_API_TOKEN: undefined,
      ANALYTICS_ENGINE_SQL_URL: "https://api.cloudflare.com/client/v4",
      METRICS_DATASET: "policy_api_metrics",
      DATABASE_URL: undefined,
      NEON_LOCAL_GATEWAY: undefined,
    });
    // Empty is the same as unset.
    expect(loadConfig({ LOG_LEVEL: "", WEBHOOK_TIMEOUT_MS: " ", RATE_LIMITS: "" })).toMatchObject({
      LOG_LEVEL: "info",
      WEBHOOK_TIMEOUT_MS: 10_000,
      RATE_LIMITS: true,
    });
  });

  it("WEBHOOK_TIMEOUT_MS: default 10 s, a whole number of ms clamped to 500 ms..30 s; anything else fails", () => {
    expect(DEFAULT_WEBHOOK_TIMEOUT_MS).toBe(10_000);
    const timeout = (value: string) => loadConfig({ WEBHOOK_TIMEOUT_MS: value }).WEBHOOK_TIMEOUT_MS;
    expect(timeout("")).toBe(10_000);
    expect(timeout("2500")).toBe(2500);
    expect(timeout(" 2500 ")).toBe(2500);
    expect(timeout("10")).toBe(500);
    expect(timeout("3600000")).toBe(30_000);
    for (const value of ["ten seconds", "-5", "2.5", "1e4"]) {
      expect(problemsOf({ WEBHOOK_TIMEOUT_MS: value }), value).toEqual([
        "WEBHOOK_TIMEOUT_MS must be a whole number of milliseconds",
      ]);
    }
  });

  it("WAIT_RECHECK_SECONDS, EVENTS_HEARTBEAT_SECONDS: default 15, whole numbers from 1 to 55; anything else fails", () => {
    expect(loadConfig({ WAIT_RECHECK_SECONDS: "1", EVENTS_HEARTBEAT_SECONDS: " 55 " })).toMatchObject({
      WAIT_RECHECK_SECONDS: 1,
      EVENTS_HEARTBEAT_SECONDS: 55,
    });
    for (const value of ["0", "56", "1.5", "soon"]) {
      expect(problemsOf({ WAIT_RECHECK_SECONDS: value, EVENTS_HEARTBEAT_SECONDS: value }), value).toEqual([
        "WAIT_RECHECK_SECONDS must be a whole number from 1 to 55",
        "EVENTS_HEARTBEAT_SECONDS must be a whole number from 1 to 55",
      ]);
    }
  });

  it("RECEIPT_TTL_SECONDS: default 900, whole seconds from 30 to 86400; anything else fails", () => {
    expect(loadConfig({ RECEIPT_TTL_SECONDS: "30" }).RECEIPT_TTL_SECONDS).toBe(30);
    expect(loadConfig({ RECEIPT_TTL_SECONDS: " 86400 " }).RECEIPT_TTL_SECONDS).toBe(86_400);
    for (const value of ["29", "86401", "1.5", "-5", "soon"]) {
      expect(problemsOf({ RECEIPT_TTL_SECONDS: value }), value).toEqual([
        "RECEIPT_TTL_SECONDS must be a whole number from 30 to 86400",
      ]);
    }
  });

  it("OPEN_WAITS_PER_KEY, OPEN_WAITS_PER_TENANT: defaults 20 and 200, whole numbers from 1 to 10000; anything else fails", () => {
    expect(loadConfig({ OPEN_WAITS_PER_KEY: " 5 ", OPEN_WAITS_PER_TENANT: "10000" })).toMatchObject({
      OPEN_WAITS_PER_KEY: 5,
      OPEN_WAITS_PER_TENANT: 10_000,
    });
    for (const value of ["0", "-1", "2.5", "1e3", "10001", "many"]) {
      expect(problemsOf({ OPEN_WAITS_PER_KEY: value, OPEN_WAITS_PER_TENANT: value }), value).toEqual([
        "OPEN_WAITS_PER_KEY must be a whole number from 1 to 10000",
        "OPEN_WAITS_PER_TENANT must be a whole number from 1 to 10000",
      ]);
    }
  });

  it("reads the switches and lists as typed values", () => {
    const config = loadConfig({
      LOG_LEVEL: "warn",
      RATE_LIMITS: " OFF ",
      ALLOW_INSECURE_WEBHOOKS: "true",
      WEBHOOK_SIGNING_SECRETS: "2:whsec_c2Vjb25kLWtleQ==, 1:older-key",
      ANALYTICS_ENGINE_SQL_URL: "http://127.0.0.1:9/client/v4//",
    });
    expect(config).toMatchObject({
      LOG_LEVEL: "warn",
      RATE_LIMITS: false,
      ALLOW_INSECURE_WEBHOOKS: true,
      ANALYTICS_ENGINE_SQL_URL: "http://127.0.0.1:9/client/v4",
    });
    expect(config.WEBHOOK_SIGNING_SECRETS.map((key) => key.version)).toEqual(["2", "1"]);
    expect(new TextDecoder().decode(config.WEBHOOK_SIGNING_SECRETS[0]?.bytes)).toBe("second-key");
  });

  it("names every bad variable and what is wrong with it, never the value", () => {
    const bad = {
      LOG_LEVEL: "verbose-value",
      RATE_LIMITS: "sometimes-value",
      ALLOW_INSECURE_WEBHOOKS: "yes-value",
      WEBHOOK_DNS_RESOLVER: "ftp://resolver-value",
      WEBHOOK_SIGNING_SECRETS: "1:whsec_c2Vjb25kLWtleQ==,whsec_signing-secret-value",
      WEBHOOK_ENCRYPTION_KEY: "ZW5jcnlwdGlvbi1rZXktdmFsdWU=",
      METRICS_DATASET: "dataset-value; DROP",
      NEON_LOCAL_GATEWAY: "gateway-value",
    };
    const problems = problemsOf(bad);
    expect(problems).toEqual([
      "LOG_LEVEL must be one of debug, info, warn, error",
      "RATE_LIMITS must be on or off",
      "ALLOW_INSECURE_WEBHOOKS must be true or false",
      "WEBHOOK_DNS_RESOLVER must be an http(s) URL",
      "WEBHOOK_SIGNING_SECRETS entry 2 is not a version:secret pair",
      "WEBHOOK_ENCRYPTION_KEY must be 32 bytes, base64 (openssl rand -base64 32)",
      "METRICS_DATASET must be a dataset name (letters, digits, _)",
      "NEON_LOCAL_GATEWAY must be an http(s) URL",
    ]);
    expect(problemsOf({ CONSOLE_BASE_URL: "javascript:alert(1)" })).toEqual([
      "CONSOLE_BASE_URL must be an http(s) URL",
    ]);
    // Notification links are built on the origin alone: a path or query given with it is dropped.
    expect(loadConfig({ CONSOLE_BASE_URL: "https://policy.example.com/x?y=1" }).CONSOLE_BASE_URL).toBe(
      "https://policy.example.com",
    );
    // Notifications: a plain sender address; reminder points as percents, or off.
    expect(problemsOf({ NOTIFY_EMAIL_FROM: "Approvals <a@b.example>" })[0]).toMatch(
      /^NOTIFY_EMAIL_FROM must be a plain email address/,
    );
    expect(loadConfig({ NOTIFY_EMAIL_FROM: " Approvals@Example.COM " }).NOTIFY_EMAIL_FROM).toBe(
      "Approvals@example.com",
    );
    for (const value of ["0", "100", "50,x", "50;90", "-5"]) {
      expect(problemsOf({ NOTIFY_REMINDERS: value })[0], value).toMatch(/^NOTIFY_REMINDERS must be percents/);
    }
    expect(loadConfig({ NOTIFY_REMINDERS: "90, 25,90" }).NOTIFY_REMINDERS).toEqual([25, 90]);
    expect(loadConfig({ NOTIFY_REMINDERS: "OFF" }).NOTIFY_REMINDERS).toEqual([]);
    expect(problemsOf({ WEBHOOK_SIGNING_SECRETS: "1:whsec_not*base64" })).toEqual([
      "WEBHOOK_SIGNING_SECRETS entry 1 has a whsec_ secret that is not base64",
    ]);
    const text = problems.join("\n");
    for (const value of Object.values(bad)) expect(text).not.toContain(value);
    expect(text).not.toContain("-value");
  });

  it("parses once per env object", () => {
    const env = { WEBHOOK_TIMEOUT_MS: "2500" };
    expect(loadConfig(env)).toBe(loadConfig(env));
    expect(loadConfig({ ...env })).not.toBe(loadConfig(env));
  });
});

describe("a bad binding in the worker", () => {
  const TIMEOUT_NOT_A_NUMBER = "WEBHOOK_TIMEOUT_MS must be a whole number of milliseconds";
  let agent: TestKey;
  beforeAll(async () => {
    agent = await createTestKey("agent");
  });

  /** Files a request with a webhook (which needs the configuration) under `env`; the answer and the log lines. */
  async function fileWithWebhook(env: Partial<Bindings>) {
    const tenant = `cfg-${crypto.randomUUID().slice(0, 8)}`;
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const filing = {
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: tenant,
        payload: { amount: 120 },
        requested_by: agent.principalId,
        webhook_url: "https://hooks.example.com/policy",
      };
      const res = await postJson("/api/v1/policy/requests", filing, agent.headers, env);
      const text = await res.text();
      const lines = log.mock.calls.map(([line]) => String(line));
      const [filed] = (await testSql().query(
        "SELECT count(*)::int AS n FROM approval_requests WHERE tenant_id = $1",
        [tenant],
      )) as { n: number }[];
      return { status: res.status, text, body: JSON.parse(text) as ErrorEnvelope, lines, filed: filed?.n };
    } finally {
      log.mockRestore();
    }
  }

  it("fails the first request that needs the configuration, in the one envelope, naming the variable and not the value", async () => {
    const answer = await fileWithWebhook({ WEBHOOK_TIMEOUT_MS: "soon" });
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe("internal_error");
    expect(answer.body.error.message).toBe(`The worker's configuration is invalid: ${TIMEOUT_NOT_A_NUMBER}`);
    expect(answer.body.error.request_id).toEqual(expect.any(String));
    expect(answer.text).not.toContain("soon");
    expect(answer.filed).toBe(0);
    const invalid = answer.lines.filter((line) => line.includes('"msg":"config_invalid"'));
    expect(invalid).toHaveLength(1);
    expect(JSON.parse(invalid[0] ?? "{}")).toMatchObject({
      level: "error",
      problems: [TIMEOUT_NOT_A_NUMBER],
    });
    for (const line of answer.lines) expect(line).not.toContain("soon");
  });

  it("never shows a bad secret's value, in the answer or in any log line", async () => {
    const signing = "whsec_bm90LWEtdmVyc2lvbmVkLXNpZ25pbmcta2V5";
    const encryption = "dG9vLXNob3J0LWVuY3J5cHRpb24ta2V5";
    const answer = await fileWithWebhook({
      WEBHOOK_SIGNING_SECRETS: signing,
      WEBHOOK_ENCRYPTION_KEY: encryption,
    });
    expect(answer.status).toBe(500);
    expect(answer.body.error.message).toContain(
      "WEBHOOK_SIGNING_SECRETS entry 1 is not a version:secret pair",
    );
    expect(answer.body.error.message).toContain("WEBHOOK_ENCRYPTION_KEY must be 32 bytes");
    expect(answer.lines.some((line) => line.includes('"msg":"config_invalid"'))).toBe(true);
    for (const secret of [signing, signing.slice("whsec_".length), encryption]) {
      expect(answer.text).not.toContain(secret);
      for (const line of answer.lines) expect(line).not.toContain(secret);
    }
  });

  it("leaves requests that do not need it alone", async () => {
    expect((await call("/health", {}, { WEBHOOK_TIMEOUT_MS: "soon" })).status).toBe(200);
  });

  it("retries a webhook batch, sending and acking nothing, until the configuration is fixed", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const batch = createMessageBatch("policy-webhooks", [
        { id: "m1", timestamp: new Date(), attempts: 1, body: { delivery_id: 987654321 } },
      ]);
      const ctx = createExecutionContext();
      await worker.queue(batch, testEnv({ WEBHOOK_TIMEOUT_MS: "soon" }), ctx);
      const result = await getQueueResult(batch, ctx);
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages.map((message) => message.msgId)).toEqual(["m1"]);
      const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
      expect(lines.find((line) => line.msg === "config_invalid")).toMatchObject({
        problems: [TIMEOUT_NOT_A_NUMBER],
      });
      expect(lines.find((line) => line.msg === "webhook_batch")).toMatchObject({
        messages: 1,
        acked: 0,
        retried: 0,
        failed: 1,
      });
    } finally {
      log.mockRestore();
    }
  });
});
