// Values the Node-side globalSetup (test/setup/global-setup.ts) provides to every test.
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** postgresql:// URL of the test server's maintenance database (for CREATE/DROP DATABASE). */
    adminDatabaseUrl: string;
    /** Name of the migrated template database each test file clones. */
    templateDatabase: string;
    /** Base URL of the local Neon gateway. */
    gatewayUrl: string;
    /** A TCP port that accepts connections and never answers (a hung database). */
    blackHolePort: number;
    /** Base URL of the test webhook receiver (test/setup/webhook-receiver.ts), on 127.0.0.1. */
    webhookReceiverUrl: string;
  }
}
