import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import {
  TEST_AUDIT_SIGNING_KEY,
  TEST_RECEIPT_SIGNING_KEY,
  TEST_WEBHOOK_ENCRYPTION_KEY,
  TEST_WEBHOOK_SIGNING_SECRETS,
} from "./test/setup/test-secrets.ts";

// The plugin reads [secrets] required from the environment. Pin it to a placeholder so a developer's
// own DATABASE_URL (say, a Neon branch) can never reach the tests; every test names its own database.
process.env.DATABASE_URL = "postgresql://tests@127.0.0.1:1/use_testEnv_not_the_process_env";
process.env.WEBHOOK_ENCRYPTION_KEY = TEST_WEBHOOK_ENCRYPTION_KEY;
process.env.WEBHOOK_SIGNING_SECRETS = TEST_WEBHOOK_SIGNING_SECRETS;
process.env.AUDIT_SIGNING_KEY = TEST_AUDIT_SIGNING_KEY;
process.env.RECEIPT_SIGNING_KEY = TEST_RECEIPT_SIGNING_KEY;

export default defineConfig({
  test: {
    // One embedded PostgreSQL and one gateway serve both projects.
    globalSetup: ["./test/setup/global-setup.ts"],
    // The default summary, plus the scan of every log line for secrets (fails the run on a find).
    reporters: ["default", "./test/setup/secret-scan-reporter.ts"],
    // Logs of passing tests are noise; a failing test shows its own.
    silent: "passed-only",
    projects: [
      {
        // The worker's own tests, inside workerd, through the real @neondatabase/serverless driver.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                // Each test file uses a database of its own (test/helpers/database.ts). This default
                // names no database on purpose, so a test that forgets testEnv() fails loudly.
                DATABASE_URL: `${inject("adminDatabaseUrl").replace(/\/postgres$/, "")}/use_testEnv_not_the_default_binding`,
                NEON_LOCAL_GATEWAY: inject("gatewayUrl"),
                // Slack is the test receiver's fake (scripts/lib/fake-slack.ts), never slack.com: a
                // workspace connected by any test has its bot token checked there (auth.test).
                SLACK_API_BASE_URL: `${inject("webhookReceiverUrl")}/slack/api/`,
                // Every line the service can log, at any level, passes the secret scan; vitest prints
                // logs only for failing tests.
                LOG_LEVEL: "debug",
                WEBHOOK_ENCRYPTION_KEY: TEST_WEBHOOK_ENCRYPTION_KEY,
                WEBHOOK_SIGNING_SECRETS: TEST_WEBHOOK_SIGNING_SECRETS,
                // Signs the audit checkpoints every cron run; tests without it pass undefined.
                AUDIT_SIGNING_KEY: TEST_AUDIT_SIGNING_KEY,
                // Signs approval receipts; tests without it pass undefined.
                RECEIPT_SIGNING_KEY: TEST_RECEIPT_SIGNING_KEY,
              },
              // A real limiter small enough to exhaust in a test (test/rate-limits.test.ts), next to
              // the ones wrangler.toml declares.
              ratelimits: { RATE_LIMIT_TINY: { namespace_id: "9001", simple: { limit: 3, period: 10 } } },
            },
          })),
        ],
        test: {
          name: "worker",
          include: ["test/**/*.test.ts"],
          exclude: ["test/node/**"],
          setupFiles: ["./test/helpers/database.ts"],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        // Node-side tooling: the migration runner, the local gateway's own edges.
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
        },
      },
    ],
  },
});
