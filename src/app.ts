// The Hono app: middleware, routes, the error envelope and the OpenAPI document.
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { consoleErrorPage, consoleRoutes } from "./console/routes.ts";
import type { Principal } from "./domain/access.ts";
import { newHttpRequestId } from "./domain/ids.ts";
import { jsonInputProblem } from "./domain/limits.ts";
import type { AppEnv } from "./env.ts";
import { authenticate, recordRefusal } from "./lib/auth.ts";
import { ApiError, type ErrorCode, invalidField } from "./lib/errors.ts";
import { createLogger, parseLogLevel } from "./lib/log.ts";
import { MetricsBuffer } from "./lib/metrics.ts";
import { createRouter } from "./lib/openapi.ts";
import { rateLimitByRole } from "./lib/rate-limit.ts";
import { adminEmergencyRoutes } from "./routes/admin-emergency.ts";
import { adminEscalationRoutes } from "./routes/admin-escalation.ts";
import { adminKeyRoutes } from "./routes/admin-keys.ts";
import { adminPolicyRoutes } from "./routes/admin-policies.ts";
import { auditExportRoutes, auditKeyRoutes } from "./routes/audit.ts";
import { decisionRoutes } from "./routes/decisions.ts";
import { docsRoutes } from "./routes/docs.ts";
import { evalRoutes } from "./routes/eval.ts";
import { healthRoutes } from "./routes/health.ts";
import { mcpRoutes } from "./routes/mcp.ts";
import { metricsAuth, metricsRoutes } from "./routes/metrics.ts";
import { requestRoutes } from "./routes/requests.ts";
import { usageRoutes } from "./routes/usage.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import { createServiceContext } from "./services/context.ts";
import { asApiError } from "./services/errors.ts";

/** Largest request body accepted; agents send a skill payload, not files. */
export const MAX_BODY_BYTES = 256 * 1024;
/** Longest path plus query string: ids, filters and pagination fit many times over. */
export const MAX_URL_BYTES = 8 * 1024;
/** Largest total of request header names and values: a key and ordinary headers fit many times over. */
export const MAX_HEADER_BYTES = 16 * 1024;
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

export function createApp() {
  const app = createRouter();

  // Every answer: no MIME sniffing. Answers under /api carry keys, requests and decisions, so nothing
  // may cache them (a route that sets its own Cache-Control keeps it).
  app.use(async (c, next) => {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    if (isApiPath(c.req.path) && !c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
  });

  app.use(
    requestId({
      headerName: "X-Request-Id",
      limitLength: 128,
      generator: newHttpRequestId,
    }),
  );

  app.use(async (c, next) => {
    const log = createLogger(parseLogLevel(c.env.LOG_LEVEL), { request_id: c.var.requestId });
    const metrics = new MetricsBuffer();
    // What the services add to this request's one log line (e.g. the decision an evaluation made).
    const annotations: Record<string, unknown> = {};
    c.set("log", log);
    c.set("metrics", metrics);
    c.set(
      "services",
      createServiceContext({
        env: c.env,
        log,
        metrics,
        waitUntil: (promise) => c.executionCtx.waitUntil(promise),
        requestId: c.var.requestId,
        annotate: (fields) => Object.assign(annotations, fields),
      }),
    );
    const started = performance.now();
    try {
      await next();
    } finally {
      // Request counts and latency per route pattern (average latency = duration total / requests).
      const route = c.req.routePath;
      const status = String(c.res.status);
      metrics.count("nova_http_requests_total", { route, status });
      metrics.count(
        "nova_http_request_duration_seconds_total",
        { route },
        (performance.now() - started) / 1000,
      );
      metrics.flush(c.env.METRICS, log);
    }
    // Path only: query strings and headers may carry identifiers or keys that do not belong in logs.
    const principal = c.var.principal as Principal | undefined;
    log.info("request", {
      method: c.req.method,
      path: c.req.path,
      // The matched route pattern (e.g. /api/v1/policy/requests/:request_id/approve), for grouping.
      route: c.req.routePath,
      status: c.res.status,
      duration_ms: Math.round(performance.now() - started),
      // Who asked (never the key itself): the key id, its principal and the tenant it is confined to.
      key_id: principal?.keyId,
      principal_id: principal?.principalId,
      tenant_id: principal?.tenantId ?? undefined,
      ...annotations,
    });
  });

  // Bounded before anything reads them: the URL (path and query) and the request headers.
  app.use(async (c, next) => {
    const url = new URL(c.req.url);
    if (url.pathname.length + url.search.length > MAX_URL_BYTES) {
      throw new ApiError("uri_too_long", `The path and query string are longer than ${MAX_URL_BYTES} bytes`);
    }
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, name) => {
      headerBytes += name.length + value.length;
    });
    if (headerBytes > MAX_HEADER_BYTES) {
      throw new ApiError(
        "headers_too_large",
        `The request headers are larger than ${MAX_HEADER_BYTES} bytes`,
      );
    }
    await next();
  });

  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `Request body is larger than ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  app.use(async (c, next) => {
    // The console's forms post application/x-www-form-urlencoded; its routes parse and check them.
    if (
      hasBody(c) &&
      !isConsolePath(c.req.path) &&
      !JSON_MEDIA_TYPE.test(c.req.header("Content-Type")?.split(";")[0]?.trim() ?? "")
    ) {
      throw new ApiError(
        "unsupported_media_type",
        "Send request bodies as JSON (Content-Type: application/json)",
      );
    }
    await next();
  });

  app.route("/", healthRoutes);
  app.route("/", auditKeyRoutes);
  // Everything under /api needs an API key; each route then checks its own permission.
  app.use("/api/*", authenticate());
  app.use("/metrics", metricsAuth());
  // Per key, by role (lib/rate-limit.ts); key management adds its own strict limit per route.
  app.use("/api/*", rateLimitByRole());
  app.use("/metrics", rateLimitByRole());
  app.use("/mcp", authenticate(), rateLimitByRole());
  // After authentication (a stranger still gets 401, not a look at the body), before any route: JSON
  // input the database cannot store (NUL, lone surrogates) or that nests past MAX_JSON_DEPTH is a 400
  // naming the field, so no service, hash or statement ever sees it.
  app.use(async (c, next) => {
    checkQuery(c);
    if (hasBody(c) && !isConsolePath(c.req.path)) await checkJsonBody(c);
    await next();
  });
  app.route("/", adminKeyRoutes);
  app.route("/", evalRoutes);
  app.route("/", decisionRoutes);
  app.route("/", usageRoutes);
  app.route("/", requestRoutes);
  app.route("/", adminPolicyRoutes);
  app.route("/", adminEscalationRoutes);
  app.route("/", adminEmergencyRoutes);
  app.route("/", auditExportRoutes);
  app.route("/", webhookRoutes);
  app.route("/", metricsRoutes);
  app.route("/", mcpRoutes);
  // The approver console: HTML pages with their own session sign-in (src/console/routes.ts).
  app.route("/", consoleRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", {
    type: "http",
    scheme: "bearer",
    description: "An API key (`pak_…`) or the ADMIN_API_KEY secret: `Authorization: Bearer <key>`.",
  });

  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "Policy API",
      version: c.env.SERVICE_VERSION,
      description:
        "Policy evaluation, approval requests with a full audit trail, escalation and signed webhooks for AI agents.",
    },
  }));
  app.route("/", docsRoutes);

  app.notFound((c) => {
    throw new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}`);
  });

  app.onError((error, c) => {
    const apiError = toApiError(error, c);
    recordRefusal(c, apiError);
    if (isConsolePath(c.req.path)) return consoleErrorPage(c, apiError, c.var.principal);
    c.header("Cache-Control", "no-store");
    if (apiError.code === "database_unavailable") c.header("Retry-After", "5");
    for (const [name, value] of Object.entries(apiError.headers)) c.header(name, value);
    return c.json(apiError.toBody(c.var.requestId ?? "unknown"), apiError.status);
  });

  return app;
}

function hasBody(c: Context): boolean {
  if (c.req.method === "GET" || c.req.method === "HEAD") return false;
  const length = c.req.header("Content-Length");
  return length !== undefined ? length !== "0" : c.req.raw.body !== null;
}

function isConsolePath(path: string): boolean {
  return path === "/console" || path.startsWith("/console/");
}

function isApiPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
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
