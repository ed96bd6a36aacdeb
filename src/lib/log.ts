// Structured logs: one JSON object per line on console.log, readable with `wrangler tail` and
// Workers Logs. Never pass secrets, API keys or Authorization headers in `fields`.

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(minLevel: LogLevel = "info", base: Record<string, unknown> = {}): Logger {
  const write = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    if (RANK[level] < RANK[minLevel]) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...base };
    for (const [key, value] of Object.entries(fields))
      line[key] = value instanceof Error ? describeError(value) : value;
    console.log(JSON.stringify(line));
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) => createLogger(minLevel, { ...base, ...fields }),
  };
}

/** How deep an error's cause chain is followed in a log line. */
const MAX_CAUSE_DEPTH = 3;

/**
 * An error as a log field, without the values it carried: a failed query's message ends with its
 * parameters (payloads, webhook URLs, encrypted secrets), which never belong in logs, and a Postgres
 * error's own message and detail may quote the value it refused (`invalid input syntax for type
 * integer: "…"`, `Failing row contains (…)`). The SQL text (parameterised), the SQLSTATE with its
 * condition, the names Postgres reports (constraint, table, column, type) and the cause chain stay.
 */
export function describeError(error: Error, depth = 0): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  const database = typeof code === "string" && SQLSTATE.test(code) ? code : undefined;
  const message =
    database && !VALUE_FREE_CLASSES.has(database.slice(0, 2))
      ? `(withheld from logs: a database message may quote the values it refused; see code and condition)`
      : withoutParameters(error.message);
  const described: Record<string, unknown> = { name: error.name, message };
  if (error.stack) described.stack = withoutParameters(error.stack.replace(error.message, message));
  if (code !== undefined) described.code = code;
  if (database) Object.assign(described, databaseNames(error, database));
  if (error.cause instanceof Error && depth < MAX_CAUSE_DEPTH) {
    described.cause = describeError(error.cause, depth + 1);
  }
  return described;
}

function withoutParameters(text: string): string {
  return text.replace(/\nparams: [\s\S]*?(?=\n {4}at |$)/, "\nparams: (withheld from logs)");
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * SQLSTATE classes whose messages speak of the connection, the server or our own SQL's objects, never
 * of a row's values: connection (08), authorization (28), catalog (3D), syntax and access rules (42,
 * which includes the audit chain's append-only refusal), resources (53), operator intervention (57).
 * Every other class (data exceptions, constraint violations, PL/pgSQL raises …) is logged by code.
 */
const VALUE_FREE_CLASSES = new Set(["08", "28", "3D", "42", "53", "57"]);

/** Condition names (Postgres Appendix A) of the errors this service can meet, then of their classes. */
const CONDITIONS: Record<string, string> = {
  "22001": "string_data_right_truncation",
  "22003": "numeric_value_out_of_range",
  "22007": "invalid_datetime_format",
  "22008": "datetime_field_overflow",
  "22012": "division_by_zero",
  "22021": "character_not_in_repertoire",
  "22023": "invalid_parameter_value",
  "22P02": "invalid_text_representation",
  "22P05": "untranslatable_character",
  "23502": "not_null_violation",
  "23503": "foreign_key_violation",
  "23505": "unique_violation",
  "23514": "check_violation",
  "23P01": "exclusion_violation",
  "40001": "serialization_failure",
  "40P01": "deadlock_detected",
  "55P03": "lock_not_available",
  "57014": "query_canceled",
  P0001: "raise_exception",
};
const CLASS_CONDITIONS: Record<string, string> = {
  "08": "connection_exception",
  "22": "data_exception",
  "23": "integrity_constraint_violation",
  "25": "invalid_transaction_state",
  "28": "invalid_authorization_specification",
  "3D": "invalid_catalog_name",
  "40": "transaction_rollback",
  "42": "syntax_error_or_access_rule_violation",
  "53": "insufficient_resources",
  "54": "program_limit_exceeded",
  "55": "object_not_in_prerequisite_state",
  "57": "operator_intervention",
  P0: "plpgsql_error",
  XX: "internal_error",
};

/**
 * What a Postgres error names without quoting data: its condition, and the schema objects the
 * driver reports (NeonDbError and pg's DatabaseError both carry them). Never `detail`, `hint`,
 * `where` or `internalQuery`, which may hold the row.
 */
function databaseNames(error: Error, code: string): Record<string, string> {
  const names: Record<string, string> = {
    condition: CONDITIONS[code] ?? CLASS_CONDITIONS[code.slice(0, 2)] ?? "unknown",
  };
  const fields = error as { constraint?: unknown; table?: unknown; column?: unknown; dataType?: unknown };
  for (const [key, value] of [
    ["constraint", fields.constraint],
    ["table", fields.table],
    ["column", fields.column],
    ["data_type", fields.dataType],
  ] as const) {
    if (typeof value === "string" && value !== "") names[key] = value;
  }
  return names;
}
