// The one error envelope: {"error": {"code", "message", "request_id", "details"?}}.
// Codes are a closed set, each with one HTTP status; clients switch on `code`, never on `message`.

export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  malformed_json: 400,
  unauthorized: 401,
  forbidden: 403,
  policy_denied: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  policy_version_mismatch: 409,
  payload_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  rate_limited: 429,
  headers_too_large: 431,
  internal_error: 500,
  database_unavailable: 503,
  upstream_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    request_id: string;
    details?: unknown;
  };
}

// Plain fields, no constructor parameter properties: the Node scripts run this file with type
// stripping only.
export class ApiError extends Error {
  readonly status: ErrorStatus;
  readonly code: ErrorCode;
  readonly details: unknown;
  /** Extra response headers, e.g. WWW-Authenticate on a 401. */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, details?: unknown, headers: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.details = details;
    this.headers = headers;
    this.status = ERROR_STATUS[code];
  }

  toBody(requestId: string): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message, request_id: requestId };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

/** A schema's complaint about one field, as zod reports it (`path`: the keys down to the field). */
export interface InputIssue {
  path: readonly PropertyKey[];
  message: string;
  code: string;
}

/** Where the invalid input was: a part of the request a route validates, or an MCP tool's arguments. */
export type InputTarget = "json" | "query" | "param" | "header" | "cookie" | "form" | "arguments";

/**
 * The one 400 `validation_failed` for input that failed its schema: the message names the part of the
 * request ("Invalid request body"), the details name each field (`path` dotted, "" for the whole input).
 */
export function validationError(
  issues: readonly InputIssue[],
  target: InputTarget,
  message = `Invalid request ${targetName(target)}`,
): ApiError {
  return new ApiError("validation_failed", message, {
    target,
    issues: issues.map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.message,
      code: issue.code,
    })),
  });
}

function targetName(target: InputTarget): string {
  return target === "json" ? "body" : target === "param" ? "path parameters" : target;
}

/** A 400 for one input field (`path` already dotted), in the same shape the schema validation reports. */
export function invalidField(path: string, message: string, target: "json" | "query" = "json"): ApiError {
  return validationError([{ path: [path], message, code: "custom" }], target);
}
