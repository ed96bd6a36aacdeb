// Authentication: who is calling. Every route under /api (and /mcp) requires
// `Authorization: Bearer <key>`. A key is `pak_<id>_<secret>`, resolved by services/keys.ts (one
// database round trip, then cached in the isolate); the ADMIN_API_KEY secret acts as a global admin
// key, and on /metrics alone the METRICS_TOKEN secret acts as a read-only scraper. Keys never reach
// logs, errors or responses; failures are logged with a reason, counted, and answered 401.
import type { Context, MiddlewareHandler } from "hono";
import type { Principal } from "../domain/access.ts";
import { digestsEqual, sha256Hex } from "../domain/encoding.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../lib/errors.ts";
import { resolveApiKey } from "../services/keys.ts";

/**
 * ADMIN_API_KEY and METRICS_TOKEN values shorter than this are ignored: a guessable secret is worse
 * than none.
 */
export const MIN_ADMIN_KEY_LENGTH = 32;

export const BOOTSTRAP_ADMIN: Principal = {
  keyId: "bootstrap",
  principalId: "bootstrap-admin",
  role: "admin",
  maxLevel: 5,
  tenantId: null,
  agentIds: null,
};

/** Who a METRICS_TOKEN scrape acts as: only ever on /metrics (the token is checked nowhere else). */
const METRICS_SCRAPER: Principal = {
  keyId: "metrics-token",
  principalId: "metrics-scraper",
  role: "admin",
  maxLevel: 1,
  tenantId: null,
  agentIds: null,
};

type AuthFailure = "missing" | "malformed" | "unknown" | "revoked";

const FAILURE_MESSAGES: Record<AuthFailure, string> = {
  missing: "Send an API key: Authorization: Bearer <key>",
  malformed: "Authorization header must be 'Bearer <key>' with a well-formed key",
  unknown: "Invalid API key",
  revoked: "This API key has been revoked",
};

/** The token of `Authorization: Bearer <token>`, if the header has that form. */
function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(header ?? "")?.[1];
}

/** Logs and counts a failed authentication (the key id when known, never the key), then throws its 401. */
function failAuthentication(c: Context<AppEnv>, reason: AuthFailure, keyId?: string): never {
  c.var.log.warn("auth_failed", { reason, key_id: keyId, path: c.req.path });
  c.var.metrics.count("nova_auth_failures_total", { reason });
  const challenge =
    reason === "missing" ? 'Bearer realm="policy-api"' : 'Bearer realm="policy-api", error="invalid_token"';
  throw new ApiError("unauthorized", FAILURE_MESSAGES[reason], undefined, { "WWW-Authenticate": challenge });
}

/** Whether `token` is a secret of at least MIN_ADMIN_KEY_LENGTH, compared in constant time. */
async function matchesSecret(token: string, secret: string | undefined): Promise<boolean> {
  if (!secret || secret.length < MIN_ADMIN_KEY_LENGTH) return false;
  return digestsEqual(await sha256Hex(token), await sha256Hex(secret));
}

async function isBootstrapAdmin(c: Context<AppEnv>, token: string): Promise<boolean> {
  const adminKey = c.var.services.config.ADMIN_API_KEY;
  if (adminKey && adminKey.length < MIN_ADMIN_KEY_LENGTH) {
    c.var.log.error("admin_api_key_ignored", { reason: `shorter than ${MIN_ADMIN_KEY_LENGTH} characters` });
  }
  return matchesSecret(token, adminKey);
}

/** Resolves the caller from `Authorization: Bearer <key>` and sets c.var.principal, or answers 401. */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    const header = c.req.header("Authorization");
    if (!header) failAuthentication(c, "missing");
    const token = bearerToken(header);
    if (!token) failAuthentication(c, "malformed");

    if (await isBootstrapAdmin(c, token)) {
      c.set("principal", BOOTSTRAP_ADMIN);
      return next();
    }
    const resolved = await resolveApiKey(c.var.services, token);
    if ("refused" in resolved) failAuthentication(c, resolved.refused, resolved.keyId);
    const principal = resolved.principal;
    c.set("principal", principal);
    c.var.log.debug("authenticated", {
      key_id: principal.keyId,
      principal_id: principal.principalId,
      role: principal.role,
    });
    return next();
  };
}

/** For /metrics: the METRICS_TOKEN scrape token (read-only, this route only), else an API key as above. */
export function authenticateScraper(): MiddlewareHandler<AppEnv> {
  const apiKey = authenticate();
  return async function authenticateScraper(c, next) {
    const token = bearerToken(c.req.header("Authorization"));
    if (token && (await matchesSecret(token, c.var.services.config.METRICS_TOKEN))) {
      c.set("principal", METRICS_SCRAPER);
      return next();
    }
    return apiKey(c, next);
  };
}
