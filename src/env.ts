// Bindings come from wrangler.toml through `wrangler types` (worker-configuration.d.ts); this adds the
// optional ones that exist only in local development and tests.
import type { Logger } from "./lib/log.ts";

export type Bindings = Env & {
  /**
   * Base URL of the local Neon gateway (scripts/lib/neon-gateway.ts), e.g. http://127.0.0.1:4444.
   * Set by `npm run dev` and the tests; never in production, where the driver talks to Neon itself.
   */
  NEON_LOCAL_GATEWAY?: string;
};

export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    log: Logger;
  };
}
