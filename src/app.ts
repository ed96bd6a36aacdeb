// The Hono app as a composition: the edge's middleware in order (src/middleware/), the routes, the
// error handler, and the OpenAPI document. What each step does lives in its own module.
import { consoleErrorPage, consoleRoutes } from "./console/routes.ts";
import { createRouter } from "./lib/openapi.ts";
import { rateLimitByRole } from "./lib/rate-limit.ts";
import { authenticate, authenticateScraper } from "./middleware/authenticate.ts";
import {
  boundBody,
  boundUrlAndHeaders,
  MAX_BODY_BYTES,
  MAX_HEADER_BYTES,
  MAX_URL_BYTES,
} from "./middleware/bounds.ts";
import { handleErrors, noRouteFound } from "./middleware/error-handler.ts";
import { requireJsonBodies } from "./middleware/json-content-type.ts";
import { checkJsonInput } from "./middleware/json-input.ts";
import { assignRequestId, requestContext } from "./middleware/request-context.ts";
import { isApiPath, isConsolePath, isSlackPath } from "./middleware/request-shape.ts";
import { securityHeaders } from "./middleware/security-headers.ts";
import { adminContactRoutes } from "./routes/admin-contacts.ts";
import { adminEmergencyRoutes } from "./routes/admin-emergency.ts";
import { adminEscalationRoutes } from "./routes/admin-escalation.ts";
import { adminKeyRoutes } from "./routes/admin-keys.ts";
import { adminPolicyRoutes } from "./routes/admin-policies.ts";
import { adminSlackRoutes } from "./routes/admin-slack.ts";
import { auditExportRoutes, auditKeyRoutes } from "./routes/audit.ts";
import { decisionRoutes } from "./routes/decisions.ts";
import { delegationRoutes } from "./routes/delegations.ts";
import { docsRoutes } from "./routes/docs.ts";
import { evalRoutes } from "./routes/eval.ts";
import { healthRoutes } from "./routes/health.ts";
import { mcpRoutes } from "./routes/mcp.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { policyBundleRoutes } from "./routes/policy-bundles.ts";
import { policyCandidateRoutes } from "./routes/policy-candidates.ts";
import { policyPlanRoutes } from "./routes/policy-plans.ts";
import { jwksRoutes, receiptRoutes } from "./routes/receipts.ts";
import { requestRoutes } from "./routes/requests.ts";
import { slackRoutes } from "./routes/slack.ts";
import { usageRoutes } from "./routes/usage.ts";
import { webhookRoutes } from "./routes/webhooks.ts";

export function createApp() {
  const app = createRouter();

  // Every answer: no MIME sniffing; nothing under /api (keys, requests, decisions) or /console may be
  // cached; every HTML answer gets the console's page headers (CSP, X-Frame-Options).
  app.use(securityHeaders({ noStore: (path) => isApiPath(path) || isConsolePath(path) }));
  app.use(assignRequestId());
  app.use(requestContext());
  // Bounded before anything reads them: the URL, the headers, the body.
  app.use(boundUrlAndHeaders({ maxUrlBytes: MAX_URL_BYTES, maxHeaderBytes: MAX_HEADER_BYTES }));
  app.use(boundBody({ maxBodyBytes: MAX_BODY_BYTES }));
  // The console's forms and Slack post application/x-www-form-urlencoded; their routes parse and check them.
  const formBodies = (path: string) => isConsolePath(path) || isSlackPath(path);
  app.use(requireJsonBodies({ exempt: formBodies }));

  app.route("/", healthRoutes);
  app.route("/", auditKeyRoutes);
  app.route("/", jwksRoutes);
  // Slack's signed posts: no API key, the signature is the authentication (src/routes/slack.ts).
  app.route("/", slackRoutes);
  // Everything under /api needs an API key; each route then checks its own permission.
  app.use("/api/*", authenticate());
  app.use("/metrics", authenticateScraper());
  // Per key, by role (lib/rate-limit.ts); key management adds its own strict limit per route.
  app.use("/api/*", rateLimitByRole());
  app.use("/metrics", rateLimitByRole());
  app.use("/mcp", authenticate(), rateLimitByRole());
  // After authentication (a stranger still gets 401, not a look at the body), before any route.
  app.use(checkJsonInput({ exemptBodies: formBodies }));
  app.route("/", adminKeyRoutes);
  app.route("/", adminContactRoutes);
  app.route("/", adminSlackRoutes);
  app.route("/", evalRoutes);
  app.route("/", decisionRoutes);
  app.route("/", usageRoutes);
  app.route("/", requestRoutes);
  app.route("/", receiptRoutes);
  app.route("/", delegationRoutes);
  app.route("/", policyBundleRoutes);
  app.route("/", policyPlanRoutes);
  app.route("/", policyCandidateRoutes);
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

  app.notFound(noRouteFound);
  // Errors under /console are HTML pages; everywhere else the one JSON error envelope.
  app.onError(handleErrors({ pages: { for: isConsolePath, render: consoleErrorPage } }));

  return app;
}
