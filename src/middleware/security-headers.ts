// Headers on every answer: no MIME sniffing anywhere, and no caching of answers that carry keys,
// requests and decisions. A route that sets its own Cache-Control keeps it.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

export interface SecurityHeadersOptions {
  /** Paths whose answers nothing may cache (Cache-Control: no-store unless the route set one). */
  noStore: (path: string) => boolean;
}

export function securityHeaders(options: SecurityHeadersOptions): MiddlewareHandler<AppEnv> {
  return async function securityHeaders(c, next) {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    if (options.noStore(c.req.path) && !c.res.headers.has("Cache-Control"))
      c.header("Cache-Control", "no-store");
  };
}
