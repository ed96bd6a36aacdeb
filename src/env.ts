// The worker's bindings and the Hono app's context types. Bindings come from wrangler.toml through
// `wrangler types` (worker-configuration.d.ts); the vars and secrets, optional ones included, are
// documented and parsed in src/config.ts.
import type { ConfigBindings } from "./config.ts";
import type { Principal } from "./domain/access.ts";
import type { Logger } from "./lib/log.ts";
import type { MetricsBuffer } from "./lib/metrics.ts";
import type { ServiceContext } from "./services/context.ts";

export type Bindings = Env & ConfigBindings;

export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    log: Logger;
    /** Counters of this request, written to Analytics Engine once when it ends. */
    metrics: MetricsBuffer;
    /** What the services need (database, bindings, log, metrics, waitUntil), built once per request. */
    services: ServiceContext;
    /** The authenticated caller: set by authentication (every /api route, /mcp, /metrics, console pages). */
    principal?: Principal;
  };
}

/**
 * Behind authentication the caller is known: protectedRoute's permission check narrows a route's
 * handler to this env, so handlers read c.var.principal without a check of their own.
 */
export interface AuthenticatedEnv extends AppEnv {
  Variables: AppEnv["Variables"] & { principal: Principal };
}
