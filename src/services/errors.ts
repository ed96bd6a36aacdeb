// Any failure as one of the API's error codes: the HTTP app's error handler (src/middleware/error-handler.ts) and entry
// points that answer in a format of their own (MCP tool results) classify and log failures the same
// way, so an operator sees one kind of failure one way.
import { isDatabaseUnavailable } from "../db/errors.ts";
import { ApiError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";

export function asApiError(error: unknown, log: Logger | undefined): ApiError {
  if (error instanceof ApiError) return error;
  if (isDatabaseUnavailable(error)) {
    log?.error("database_unavailable", { error });
    return new ApiError("database_unavailable", "The database is unavailable; retry shortly");
  }
  log?.error("unhandled_error", { error });
  return new ApiError("internal_error", "Internal error; quote the request_id when reporting it");
}
