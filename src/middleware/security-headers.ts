// Headers on every answer: no MIME sniffing anywhere, no caching of answers that carry keys, requests
// and decisions, and on every HTML answer the console's page headers, whichever layer made the page
// (a console route, or the error handler for a 413, 414 or 431 raised before any route ran). A route
// that sets one of these headers itself keeps its own.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

export interface SecurityHeadersOptions {
  /** Paths whose answers nothing may cache (Cache-Control: no-store unless the route set one). */
  noStore: (path: string) => boolean;
}

/**
 * Every HTML page: scripts and styles from this origin only, forms post here, never framed, never
 * cached. Referrer-Policy is same-origin, not no-referrer: under no-referrer Chromium sends
 * `Origin: null` on the console's own posts. The same headers are on the static assets (public/_headers).
 */
export const HTML_PAGE_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "Cache-Control": "no-store",
  "Referrer-Policy": "same-origin",
  "X-Frame-Options": "DENY",
} as const;

export function securityHeaders(options: SecurityHeadersOptions): MiddlewareHandler<AppEnv> {
  return async function securityHeaders(c, next) {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    if (c.res.headers.get("Content-Type")?.startsWith("text/html")) {
      for (const [name, value] of Object.entries(HTML_PAGE_HEADERS)) {
        if (!c.res.headers.has(name)) c.header(name, value);
      }
    }
    if (options.noStore(c.req.path) && !c.res.headers.has("Cache-Control"))
      c.header("Cache-Control", "no-store");
  };
}
