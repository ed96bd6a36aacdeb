import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";
import { copyStaticAssets } from "./scripts/lib/static-assets.ts";
import SlowFirstSequencer from "./test/setup/sequencer.ts";
import {
  TEST_AUDIT_SIGNING_KEY,
  TEST_RECEIPT_SIGNING_KEY,
  TEST_VAPID_PRIVATE_KEY,
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
process.env.VAPID_PRIVATE_KEY = TEST_VAPID_PRIVATE_KEY;

// The static assets copied from node_modules (Scalar's script) must be in public/ before the pool reads
// wrangler.toml's [assets] block: wrangler's [build] command does not run for tests.
copyStaticAssets();

/**
 * Files that bound how fast things happen under load (the database outage drill; 500 approvals with
 * their waiters attached, the rooms reset mid-run), or give started waits a fixed time to settle
 * (wait-bounds). They run alone, after the rest and one at a time (projects of their own in a later
 * sequence group), so no other test file competes for the CPU.
 */
const ALONE = {
  node: ["test/node/db-outage.test.ts"],
  worker: ["test/wait-eviction.test.ts", "test/wait-bounds.test.ts"],
};
const ALONE_GROUP = { maxWorkers: 1, sequence: { groupOrder: 1 } };

/** The worker's own tests, inside workerd, through the real @neondatabase/serverless driver. */
function workerProject(
  test: NonNullable<TestProjectInlineConfiguration["test"]>,
): TestProjectInlineConfiguration {
  return {
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
      setupFiles: ["./test/helpers/database.ts"],
      testTimeout: 20_000,
      hookTimeout: 30_000,
      ...test,
    },
  };
}

/** Node-side tooling: the migration runner, the local gateway's own edges, the CLIs, whole stacks. */
function nodeProject(
  test: NonNullable<TestProjectInlineConfiguration["test"]>,
): TestProjectInlineConfiguration {
  return { test: { environment: "node", testTimeout: 30_000, ...test } };
}

export default defineConfig({
  test: {
    // One embedded PostgreSQL and one gateway serve every project.
    globalSetup: ["./test/setup/global-setup.ts"],
    // The default summary, plus the scan of every log line for secrets (fails the run on a find).
    reporters: ["default", "./test/setup/secret-scan-reporter.ts"],
    // Logs of passing tests are noise; a failing test shows its own.
    silent: "passed-only",
    // Two files at a time. Vitest's default is one fewer than the cores (1 on a 2-core CI runner), but
    // most files spend much of their time waiting on the network, a stack or a clock, not the CPU.
    maxWorkers: 2,
    // The long files first, so none starts last and runs alone (test/setup/sequencer.ts).
    sequence: { sequencer: SlowFirstSequencer },
    projects: [
      workerProject({
        name: "worker",
        include: ["test/**/*.test.ts"],
        exclude: ["test/node/**", ...ALONE.worker],
      }),
      nodeProject({ name: "node", include: ["test/node/**/*.test.ts"], exclude: ALONE.node }),
      workerProject({ name: "worker-alone", include: ALONE.worker, ...ALONE_GROUP }),
      nodeProject({ name: "node-alone", include: ALONE.node, ...ALONE_GROUP }),
    ],
  },
});
