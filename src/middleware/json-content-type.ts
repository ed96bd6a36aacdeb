// The API speaks JSON only: a request body in any other media type is a 415 before a route reads it.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../lib/errors.ts";
import { hasBody } from "./request-shape.ts";

/** application/json and structured suffixes (application/merge-patch+json), any parameters. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

export interface JsonOnlyOptions {
  /** Paths that take other bodies and check them themselves (the console's HTML forms). */
  exempt: (path: string) => boolean;
}

export function requireJsonBodies(options: JsonOnlyOptions): MiddlewareHandler<AppEnv> {
  return async function requireJsonBodies(c, next) {
    if (
      hasBody(c) &&
      !options.exempt(c.req.path) &&
      !JSON_MEDIA_TYPE.test(c.req.header("Content-Type")?.split(";")[0]?.trim() ?? "")
    ) {
      throw new ApiError(
        "unsupported_media_type",
        "Send request bodies as JSON (Content-Type: application/json)",
      );
    }
    await next();
  };
}
