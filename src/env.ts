// Bindings come from wrangler.toml through `wrangler types` (worker-configuration.d.ts); this adds the
// optional ones wrangler cannot know about.
import type { Principal } from "./domain/access.ts";
import type { Logger } from "./lib/log.ts";
import type { MetricsBuffer } from "./lib/metrics.ts";
import type { ServiceContext } from "./services/context.ts";

export type Bindings = Env & {
  /**
   * Bootstrap admin key (`wrangler secret put ADMIN_API_KEY`, at least 32 characters). Optional: once
   * database keys exist it can be removed. Acts as principal "bootstrap-admin", role admin, level 5.
   */
  ADMIN_API_KEY?: string;
  /**
   * Base URL of the local Neon gateway (scripts/lib/neon-gateway.ts), e.g. http://127.0.0.1:4444.
   * Set by `npm run dev` and the tests; never in production, where the driver talks to Neon itself.
   */
  NEON_LOCAL_GATEWAY?: string;
  /** Read-only bearer token for Prometheus scrapers of /metrics (`wrangler secret put METRICS_TOKEN`). */
  METRICS_TOKEN?: string;
  /** Cloudflare account id and a token with Account Analytics read, for the /metrics counters. */
  CF_ACCOUNT_ID?: string;
  CF_ANALYTICS_API_TOKEN?: string;
  /** Base URL of the Cloudflare API (tests point it at a local server). */
  ANALYTICS_ENGINE_SQL_URL?: string;
  /** The Analytics Engine dataset the counters are in; default policy_api_metrics. */
  METRICS_DATASET?: string;
  /** DNS-over-HTTPS JSON endpoint for the webhook send-time address check; default Cloudflare's. */
  WEBHOOK_DNS_RESOLVER?: string;
  /**
   * How long a webhook receiver gets for a whole attempt (connect, headers, the body excerpt), in
   * milliseconds: default 10000, clamped to 500..30000 (src/services/webhooks/delivery.ts deliveryTimeoutMs).
   */
  WEBHOOK_TIMEOUT_MS?: string;
};

export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    log: Logger;
    /** Counters of this request, written to Analytics Engine once when it ends. */
    metrics: MetricsBuffer;
    /** What the services need (database, bindings, log, metrics, waitUntil), built once per request. */
    services: ServiceContext;
    /** The authenticated caller; set on every /api route. */
    principal: Principal;
  };
}
