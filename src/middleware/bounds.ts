// Size bounds, enforced before anything reads the input: the URL (path and query string), the request
// headers, and the body. Each answers in the one error envelope (414, 431, 413).
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../lib/errors.ts";

/** Largest request body accepted; agents send a skill payload, not files. */
export const MAX_BODY_BYTES = 256 * 1024;
/** Longest path plus query string: ids, filters and pagination fit many times over. */
export const MAX_URL_BYTES = 8 * 1024;
/** Largest total of request header names and values: a key and ordinary headers fit many times over. */
export const MAX_HEADER_BYTES = 16 * 1024;

export interface UrlAndHeaderBounds {
  maxUrlBytes: number;
  maxHeaderBytes: number;
}

export function boundUrlAndHeaders(bounds: UrlAndHeaderBounds): MiddlewareHandler<AppEnv> {
  return async function boundUrlAndHeaders(c, next) {
    const url = new URL(c.req.url);
    if (url.pathname.length + url.search.length > bounds.maxUrlBytes) {
      throw new ApiError(
        "uri_too_long",
        `The path and query string are longer than ${bounds.maxUrlBytes} bytes`,
      );
    }
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, name) => {
      headerBytes += name.length + value.length;
    });
    if (headerBytes > bounds.maxHeaderBytes) {
      throw new ApiError(
        "headers_too_large",
        `The request headers are larger than ${bounds.maxHeaderBytes} bytes`,
      );
    }
    await next();
  };
}

export function boundBody(bounds: { maxBodyBytes: number }): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize: bounds.maxBodyBytes,
    onError: () => {
      throw new ApiError("payload_too_large", `Request body is larger than ${bounds.maxBodyBytes} bytes`);
    },
  });
}
