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
 * parameters (payloads, webhook URLs, encrypted secrets), which never belong in logs. The SQL text
 * (parameterised), the SQLSTATE and the cause chain stay.
 */
export function describeError(error: Error, depth = 0): Record<string, unknown> {
  const message = withoutParameters(error.message);
  const described: Record<string, unknown> = { name: error.name, message };
  if (error.stack) described.stack = withoutParameters(error.stack.replace(error.message, message));
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) described.code = code;
  if (error.cause instanceof Error && depth < MAX_CAUSE_DEPTH) {
    described.cause = describeError(error.cause, depth + 1);
  }
  return described;
}

function withoutParameters(text: string): string {
  return text.replace(/\nparams: [\s\S]*?(?=\n {4}at |$)/, "\nparams: (withheld from logs)");
}
