// The app's error handler and its 404: every failure becomes the one JSON error envelope (or, under
// /console, an HTML page), with no-store, Retry-After where a retry helps, and a 403 logged and counted.
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../env.ts";
import { ApiError, type ErrorCode } from "../lib/errors.ts";
import { recordRefusal } from "../lib/permissions.ts";
import { asApiError } from "../services/errors.ts";

/** No route matched: a 404 in the envelope, naming what was asked for. */
export const noRouteFound: NotFoundHandler<AppEnv> = (c) => {
  throw new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}`);
};

export interface ErrorHandlerOptions {
  /** Paths whose errors are pages for people rather than envelopes (the console), and their renderer. */
  pages: {
    for: (path: string) => boolean;
    render: (c: Context<AppEnv>, error: ApiError) => Response | Promise<Response>;
  };
}

export function handleErrors(options: ErrorHandlerOptions): ErrorHandler<AppEnv> {
  return function handleErrors(error, c) {
    const apiError = toApiError(error, c);
    recordRefusal(c, apiError);
    if (options.pages.for(c.req.path)) return options.pages.render(c, apiError);
    c.header("Cache-Control", "no-store");
    if (apiError.code === "database_unavailable") c.header("Retry-After", "5");
    for (const [name, value] of Object.entries(apiError.headers)) c.header(name, value);
    return c.json(apiError.toBody(c.var.requestId ?? "unknown"), apiError.status);
  };
}

/** Hono's own refusals (body limit, malformed JSON in a validator) by status, in the API's codes. */
const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

function toApiError(error: Error, c: Context<AppEnv>): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    if (error.status === 400 && /malformed json/i.test(error.message)) {
      return new ApiError("malformed_json", "Request body is not valid JSON");
    }
    return new ApiError(HTTP_STATUS_CODES[error.status] ?? "bad_request", error.message || "Bad request");
  }
  return asApiError(error, c.var.log);
}
