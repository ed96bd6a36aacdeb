// JSON input the database cannot store (NUL, lone surrogates) or that nests past MAX_JSON_DEPTH is a
// 400 naming the field, in the query string or the body, before any route: so no service, hash or
// statement ever sees it. Mounted after authentication: a stranger gets 401, not a look at the body.
import type { Context, MiddlewareHandler } from "hono";
import { jsonInputProblem } from "../domain/limits.ts";
import type { AppEnv } from "../env.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import { hasBody } from "./request-shape.ts";

export interface JsonInputOptions {
  /** Paths whose bodies are not JSON and are checked where they are parsed (the console's forms). */
  exemptBodies: (path: string) => boolean;
}

export function checkJsonInput(options: JsonInputOptions): MiddlewareHandler<AppEnv> {
  return async function checkJsonInput(c, next) {
    checkQuery(c);
    if (hasBody(c) && !options.exemptBodies(c.req.path)) await checkJsonBody(c);
    await next();
  };
}

/** Query parameters (names and values, as decoded): `?tenant_id=%00` is a 400, not a database error. */
function checkQuery(c: Context): void {
  const queries = Object.entries(c.req.queries());
  if (queries.length === 0) return;
  const params = Object.fromEntries(
    queries.map(([name, values]) => [name, values.length === 1 ? values[0] : values]),
  );
  const problem = jsonInputProblem(params);
  if (problem) throw invalidField(problem.path, problem.message, "query");
}

/**
 * Reads and parses a JSON body and refuses what jsonInputProblem finds. Hono caches the text, so the
 * route's validator (c.req.json()) and parseOptionalBody (c.req.text()) read the same text again. An
 * empty body passes: routes with optional bodies accept it, and the others' validators refuse it.
 */
async function checkJsonBody(c: Context): Promise<void> {
  const text = await c.req.text();
  if (text.trim() === "") return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // A syntax error, or a RangeError should an engine's parser run out of stack on extreme nesting.
    throw new ApiError("malformed_json", "Request body is not valid JSON");
  }
  const problem = jsonInputProblem(value);
  if (problem) throw invalidField(problem.path, problem.message);
}
