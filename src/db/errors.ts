// Classifies database failures so the API can answer 503 (database away) apart from 500 (our bug),
// whichever driver path raised them. Drizzle wraps driver errors; the SQLSTATE sits on a `cause`.

const UNAVAILABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "3D000", // invalid_catalog_name: the configured database does not exist
  "28000", // invalid_authorization_specification
  "28P01", // invalid_password
]);

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < 8) {
    chain.push(current);
    // NeonDbError keeps the underlying failure on `sourceError`, drizzle on `cause`.
    const link = current as { cause?: unknown; sourceError?: unknown };
    current = link.cause ?? link.sourceError;
  }
  return chain;
}

/** The Postgres SQLSTATE (e.g. "23505") carried by `error` or one of its causes. */
export function sqlState(error: unknown): string | undefined {
  for (const link of causes(error)) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** True when the database did not answer in time (an aborted fetch or a connect timeout). */
export function isTimeout(error: unknown): boolean {
  return causes(error).some(
    (link) =>
      link instanceof Error &&
      (link.name === "TimeoutError" ||
        link.name === "AbortError" ||
        /TimeoutError|timed out|timeout/i.test(link.message)),
  );
}

/** True when the database could not be reached or refused us, as opposed to a failing statement. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof Error && error.name === "DatabaseNotConfiguredError") return true;
  const state = sqlState(error);
  if (state) return state.startsWith("08") || UNAVAILABLE_SQLSTATES.has(state);
  if (isTimeout(error)) return true;
  return causes(error).some((link) => {
    if (!(link instanceof Error)) return false;
    // Raised by @neondatabase/serverless when fetch fails or the endpoint answers 5xx.
    return /^(Error connecting to database|Server error \(HTTP status 5\d\d\))/.test(link.message);
  });
}

export const UNIQUE_VIOLATION = "23505";
