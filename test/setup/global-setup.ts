// Runs once, in Node, before any test file: a throwaway embedded PostgreSQL, the local Neon gateway,
// and a migrated template database that each test file clones into a database of its own
// (CREATE DATABASE ... TEMPLATE), so files never see each other's rows and order never matters; and a
// real HTTP webhook receiver (webhook-receiver.ts) the queue consumer delivers to over loopback.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../scripts/lib/embedded-postgres.ts";
import { ensureDatabase } from "../../scripts/lib/local-stack.ts";
import { migrateUp } from "../../scripts/lib/migrations.ts";
import { startNeonGateway } from "../../scripts/lib/neon-gateway.ts";
import { freePort } from "../../scripts/lib/stack.ts";
import { startWebhookReceiver } from "./webhook-receiver.ts";

export const TEMPLATE_DATABASE = "policy_template";

export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "policy-api-test-pg-"));
  const postgres = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false });
  const adminDatabaseUrl = postgres.url("postgres");
  await ensureDatabase(adminDatabaseUrl, TEMPLATE_DATABASE);
  await migrateUp(postgres.url(TEMPLATE_DATABASE));

  const gateway = await startNeonGateway();
  const blackHole = net.createServer(() => {
    // Accept and stay silent: the client waits for a greeting that never comes.
  });
  await new Promise<void>((resolve) => blackHole.listen(0, "127.0.0.1", resolve));
  const receiver = await startWebhookReceiver();

  project.provide("adminDatabaseUrl", adminDatabaseUrl);
  project.provide("templateDatabase", TEMPLATE_DATABASE);
  project.provide("gatewayUrl", gateway.url);
  project.provide("blackHolePort", (blackHole.address() as net.AddressInfo).port);
  project.provide("webhookReceiverUrl", receiver.url);

  return async () => {
    blackHole.close();
    await receiver.close();
    await gateway.close();
    await postgres.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
