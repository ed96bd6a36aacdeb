// The worker's configuration: every var (wrangler.toml [vars]) and secret (`wrangler secret put`) it
// reads, documented here and nowhere else, parsed by ONE zod schema into a typed Config. Services read
// `ctx.config` (src/services/context.ts), never a raw string of the environment.
//
// Parsed once per env object (the platform hands an isolate the same one each time), on first use: a
// bad value fails the first request or job that needs the configuration, with an internal_error whose
// message names each variable and what is wrong with it, never its value (secrets live here). Unset
// and empty mean "not set": the documented default applies.
//
// Bindings that are not strings (the queues, the Analytics Engine dataset, the rate limiters, the wait
// gate) are declared in wrangler.toml and typed in src/env.ts and src/services/context.ts.
import { z } from "zod";
import { normalizeEmail } from "./domain/contacts.ts";
import { fromBase64 } from "./domain/encoding.ts";
import { DEFAULT_RECEIPT_TTL_SECONDS } from "./domain/receipts.ts";
import {
  DEFAULT_OPEN_WAITS_PER_KEY,
  DEFAULT_OPEN_WAITS_PER_TENANT,
  MAX_OPEN_WAITS,
  MAX_WAIT_SECONDS,
} from "./domain/wait-gate.ts";
import { DEFAULT_EVENTS_HEARTBEAT_SECONDS, DEFAULT_WAIT_RECHECK_SECONDS } from "./domain/wait-room.ts";
import { parseSigningSecrets, signingSecretsProblem } from "./domain/webhook-signing.ts";
import { ApiError } from "./lib/errors.ts";
import type { LogLevel } from "./lib/log.ts";

/** A receiver's whole attempt (connect, headers, the body excerpt) when WEBHOOK_TIMEOUT_MS is unset. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
const MIN_WEBHOOK_TIMEOUT_MS = 500;
/** Keeps a queue batch's bound (deliveryBatch, services/webhooks/delivery.ts) inside the queue's limits. */
const MAX_WEBHOOK_TIMEOUT_MS = 30_000;
/** DNS over HTTPS (JSON) for the webhook send-time address check. */
const DEFAULT_DNS_RESOLVER = "https://cloudflare-dns.com/dns-query";
const DEFAULT_ANALYTICS_SQL_API = "https://api.cloudflare.com/client/v4";
/** The Analytics Engine dataset wrangler.toml binds as METRICS. */
const DEFAULT_METRICS_DATASET = "policy_api_metrics";
/** Where `npm run dev` serves the worker (wrangler.toml [dev]): the origin of notification links locally. */
export const DEFAULT_CONSOLE_BASE_URL = "http://127.0.0.1:8000";
/** Reminders half-way to the deadline and at 90 % of the way (NOTIFY_REMINDERS). */
export const DEFAULT_REMINDER_PERCENTS = [50, 90] as const;
const DEFAULT_SLACK_API_BASE_URL = "https://slack.com/api/";
const LOG_LEVELS = ["debug", "info", "warn", "error"] as const satisfies readonly LogLevel[];

/** Unset and empty (after trimming) are the same: not set. */
const text = z
  .string({ error: "must be a string" })
  .optional()
  .transform((value) => value?.trim() || undefined);
/** A secret compared byte for byte: not trimmed; empty is not set. */
const exactSecret = z
  .string({ error: "must be a string" })
  .optional()
  .transform((value) => value || undefined);

/** An on/off style switch, case-insensitive. */
function flag(on: string, off: string, fallback: boolean) {
  return text
    .transform((value) => value?.toLowerCase())
    .pipe(z.enum([on, off], { error: `must be ${on} or ${off}` }).optional())
    .transform((value) => (value === undefined ? fallback : value === on));
}

/** An http(s) URL; `fallback` when unset. */
function httpUrl<Fallback extends string | undefined>(fallback: Fallback) {
  return text.transform((value, ctx) => {
    if (value === undefined) return fallback;
    const url = URL.canParse(value) ? new URL(value) : undefined;
    if (url?.protocol !== "https:" && url?.protocol !== "http:") {
      ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
      return z.NEVER;
    }
    return value;
  });
}

/** A whole number from 1 to `max`; `fallback` when unset. */
function count(fallback: number, max: number) {
  const error = `must be a whole number from 1 to ${max}`;
  return text.pipe(
    z
      .string()
      .regex(/^\d+$/, { error })
      .transform(Number)
      .refine((value) => value >= 1 && value <= max, { error })
      .default(fallback),
  );
}

function decodesTo32Bytes(base64: string): boolean {
  try {
    return fromBase64(base64).length === 32;
  } catch {
    return false;
  }
}

export const ConfigSchema = z.object({
  /** Version reported by /health, /openapi.json and MCP; bumped with releases (wrangler.toml). */
  SERVICE_VERSION: text,
  /** The least severe log line written: debug | info | warn | error; default info. */
  LOG_LEVEL: text.pipe(
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  ),
  /**
   * on | off: "off" lifts every per-key rate limit (benchmarks; an operator's emergency lever);
   * default on. The limits themselves are wrangler.toml's [[ratelimits]] (src/lib/rate-limit.ts).
   */
  RATE_LIMITS: flag("on", "off", true),
  /**
   * The most waits (GET .../requests/{id}?wait=N, MCP wait_for_decision) one API key may hold open at
   * once, across every isolate (the WaitGate Durable Object); beyond it a wait is refused with 429
   * rate_limited. A whole number from 1 to 10000; default 20.
   */
  OPEN_WAITS_PER_KEY: count(DEFAULT_OPEN_WAITS_PER_KEY, MAX_OPEN_WAITS),
  /** The most waits one tenant's keys may hold open at once, likewise. Default 200. */
  OPEN_WAITS_PER_TENANT: count(DEFAULT_OPEN_WAITS_PER_TENANT, MAX_OPEN_WAITS),
  /**
   * Seconds between the safety re-reads of a waited-on request (every way to wait: ?wait, MCP
   * wait_for_decision, the events stream). Waits are woken by the WaitRoom Durable Object at a
   * transition; this re-read bounds how late a lost notification, or an unreachable room, can make a
   * wake-up, and is what a quiet wait costs the database. A whole number from 1 to 55; default 15.
   */
  WAIT_RECHECK_SECONDS: count(DEFAULT_WAIT_RECHECK_SECONDS, MAX_WAIT_SECONDS),
  /** Seconds between heartbeats (SSE comments) on an events stream. From 1 to 55; default 15. */
  EVENTS_HEARTBEAT_SECONDS: count(DEFAULT_EVENTS_HEARTBEAT_SECONDS, MAX_WAIT_SECONDS),
  /**
   * true | false: true lets webhook_url use plain http and private or local hosts, and skips the
   * send-time DNS check: for local development only. Default false.
   */
  ALLOW_INSECURE_WEBHOOKS: flag("true", "false", false),
  /**
   * How long a webhook receiver gets for a whole attempt (connect, headers, the body excerpt), in
   * milliseconds: a whole number, default 10000, clamped to 500..30000.
   */
  WEBHOOK_TIMEOUT_MS: text.pipe(
    z
      .string()
      .regex(/^\d+$/, { error: "must be a whole number of milliseconds" })
      .transform((value) => Math.min(MAX_WEBHOOK_TIMEOUT_MS, Math.max(MIN_WEBHOOK_TIMEOUT_MS, Number(value))))
      .default(DEFAULT_WEBHOOK_TIMEOUT_MS),
  ),
  /**
   * The origin people reach this worker's console at, e.g. https://policy.example.com: notification
   * links (services/view-links.ts) are built on it, since the cron and the queue consumers that send
   * them have no request to take an origin from. Default http://127.0.0.1:8000 (`npm run dev`).
   */
  CONSOLE_BASE_URL: httpUrl(DEFAULT_CONSOLE_BASE_URL).transform((url) => new URL(url).origin),
  /**
   * The sender of notification email (the SEND_EMAIL binding's From): an address on a domain with
   * Cloudflare Email Routing, e.g. approvals@example.com. Unset: email notifications wait (retried)
   * until it is set, like webhooks without a signing key.
   */
  NOTIFY_EMAIL_FROM: text.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const email = normalizeEmail(value);
    if (!email.ok) {
      ctx.addIssue({ code: "custom", message: `must be a plain email address: ${email.reason}` });
      return z.NEVER;
    }
    return email.value;
  }),
  /**
   * Web Push (issue 31): this server's VAPID public key, base64url of the 65-byte uncompressed P-256
   * point (browsers subscribe with it), and, a secret, VAPID_PRIVATE_KEY, the base64url private
   * scalar (32 bytes) of the same pair. `npm run dev` makes a local pair. Either unset: the console
   * offers no push, and push deliveries wait (retried) until both are set.
   */
  VAPID_PUBLIC_KEY: text.refine((value) => value === undefined || /^B[A-Za-z0-9_-]{86}$/.test(value), {
    error: "must be base64url of an uncompressed P-256 public key (87 characters starting B)",
  }),
  VAPID_PRIVATE_KEY: text.refine((value) => value === undefined || /^[A-Za-z0-9_-]{43}$/.test(value), {
    error: "must be base64url of a 32-byte P-256 private key (43 characters)",
  }),
  /** Who push services may contact about this server's pushes (RFC 8292): a mailto: or https: URL. */
  VAPID_SUBJECT: text
    .refine((value) => value === undefined || /^(mailto:[^\s]+|https:\/\/[^\s]+)$/.test(value), {
      error: "must be a mailto: or https: URL",
    })
    .transform((value) => value ?? "mailto:policy-api@localhost"),
  /**
   * When reminders go out before a request's deadline: percents of the time from filing to expiry,
   * comma-separated whole numbers from 1 to 99 (default "50,90": half-way and at 90 %), or "off".
   */
  NOTIFY_REMINDERS: text.transform((value, ctx) => {
    if (value === undefined) return [...DEFAULT_REMINDER_PERCENTS];
    if (value.toLowerCase() === "off") return [];
    const parts = value.split(",").map((part) => part.trim());
    if (!parts.every((part) => /^\d{1,2}$/.test(part) && Number(part) >= 1)) {
      ctx.addIssue({
        code: "custom",
        message: 'must be percents from 1 to 99, comma-separated (e.g. "50,90"), or off',
      });
      return z.NEVER;
    }
    return [...new Set(parts.map(Number))].sort((a, b) => a - b);
  }),
  /**
   * Slack's Web API base URL (issue 26); default https://slack.com/api/. Tests and the local Slack
   * simulator point it at a stand-in that records what was posted.
   */
  SLACK_API_BASE_URL: httpUrl(DEFAULT_SLACK_API_BASE_URL),
  /** DNS-over-HTTPS JSON endpoint for the webhook send-time address check; default Cloudflare's. */
  WEBHOOK_DNS_RESOLVER: httpUrl(DEFAULT_DNS_RESOLVER),
  /**
   * Secret. The service keys that sign webhooks of requests without a secret of their own:
   * `version:whsec_<base64>` pairs separated by commas, the current key first, then keys in their
   * grace period. Unset: such deliveries wait (retried) until it is set.
   */
  WEBHOOK_SIGNING_SECRETS: text.transform((value, ctx) => {
    if (value === undefined) return [];
    const problem = signingSecretsProblem(value);
    if (problem) {
      ctx.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }
    return parseSigningSecrets(value);
  }),
  /**
   * Secret. 32 random bytes, base64 (`openssl rand -base64 32`): encrypts the webhook secrets requests
   * bring, and keys their fingerprint in idempotency hashes. Unset: requests with a webhook_secret are
   * refused (500), the others are filed as ever.
   */
  WEBHOOK_ENCRYPTION_KEY: text.refine((value) => value === undefined || decodesTo32Bytes(value), {
    error: "must be 32 bytes, base64 (openssl rand -base64 32)",
  }),
  /**
   * Secret. Ed25519 private key, PKCS#8 DER base64 (`npm run audit -- keygen`): signs the audit chain's
   * checkpoints each minute. Unset: none are written and the cron logs audit_checkpoints_skipped. Its
   * contents are checked when the key is imported, so a broken key fails the checkpoints alone.
   */
  AUDIT_SIGNING_KEY: text,
  /**
   * Secret. Ed25519 private key, PKCS#8 DER base64 (`npm run audit -- keygen` makes one in this
   * format): signs approval receipts (src/lib/receipts.ts), apart from the audit key. Unset: approvals
   * carry no receipt and log receipt_skipped. A broken key fails the receipt alone, never the approval.
   */
  RECEIPT_SIGNING_KEY: text,
  /** Seconds after a final approval in which the approved action must start (the receipt's exp). 30–86400; default 900. */
  RECEIPT_TTL_SECONDS: text.pipe(
    z
      .string()
      .regex(/^\d+$/, { error: "must be a whole number from 30 to 86400" })
      .transform(Number)
      .refine((value) => value >= 30 && value <= 86_400, { error: "must be a whole number from 30 to 86400" })
      .default(DEFAULT_RECEIPT_TTL_SECONDS),
  ),
  /**
   * Secret, optional. Bootstrap admin key, at least 32 characters (src/middleware/authenticate.ts ignores, and logs,
   * a shorter one): principal "bootstrap-admin", role admin, level 5. Remove it once database keys exist.
   */
  ADMIN_API_KEY: exactSecret,
  /** Secret, optional. Read-only bearer token for Prometheus scrapers of /metrics (32 characters or more). */
  METRICS_TOKEN: exactSecret,
  /** Cloudflare account id for the /metrics counters (with CF_ANALYTICS_API_TOKEN; both optional). */
  CF_ACCOUNT_ID: text,
  /** Secret, optional. A Cloudflare API token with Account Analytics read, for the /metrics counters. */
  CF_ANALYTICS_API_TOKEN: exactSecret,
  /** Base URL of the Cloudflare API that serves Analytics Engine SQL (tests point it at a local server). */
  ANALYTICS_ENGINE_SQL_URL: httpUrl(DEFAULT_ANALYTICS_SQL_API).transform((url) => url.replace(/\/+$/, "")),
  /** The Analytics Engine dataset the counters are in; default policy_api_metrics. */
  METRICS_DATASET: text.pipe(
    z
      .string()
      .regex(/^\w+$/, { error: "must be a dataset name (letters, digits, _)" })
      .default(DEFAULT_METRICS_DATASET),
  ),
  /**
   * Secret. The Neon connection string, e.g.
   * postgresql://user:pass@ep-xxx.region.aws.neon.tech/policy?sslmode=require.
   * The data layer (src/db/client.ts) reads it from the bindings itself (src/db sits below this
   * module); unset, every database call answers 503 database_unavailable.
   */
  DATABASE_URL: exactSecret,
  /**
   * Base URL of the local Neon gateway (scripts/lib/neon-gateway.ts), e.g. http://127.0.0.1:4444: set
   * by `npm run dev` and the tests, never in production. Read by src/db/client.ts, like DATABASE_URL.
   */
  NEON_LOCAL_GATEWAY: httpUrl(undefined),
});

export type Config = z.output<typeof ConfigSchema>;
/** The raw vars and secrets as the platform (or an operator script) hands them over. */
export type ConfigBindings = z.input<typeof ConfigSchema>;

/** The configuration is invalid: an internal_error naming each variable and what is wrong. */
export class ConfigError extends ApiError {
  /** `VARIABLE problem`, one per invalid variable (no values). */
  readonly problems: string[];

  constructor(problems: string[]) {
    super("internal_error", `The worker's configuration is invalid: ${problems.join("; ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const parsed = new WeakMap<object, Config | ConfigError>();

/** The parse of `env`, memoized per env object: a Config, or the ConfigError saying what is wrong. */
function parseConfig(env: ConfigBindings): Config | ConfigError {
  let result = parsed.get(env);
  if (!result) {
    const attempt = ConfigSchema.safeParse(env);
    result = attempt.success
      ? attempt.data
      : new ConfigError(attempt.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`));
    parsed.set(env, result);
  }
  return result;
}

/** The typed configuration of `env`; throws ConfigError when a value is invalid. */
export function loadConfig(env: ConfigBindings): Config {
  const result = parseConfig(env);
  if (result instanceof ConfigError) throw result;
  return result;
}

/**
 * The log level for a logger built before anything else: LOG_LEVEL, or info while the configuration
 * is invalid (so the failure itself is logged, and reported by the first use of the configuration).
 */
export function logLevelFor(env: ConfigBindings): LogLevel {
  const result = parseConfig(env);
  return result instanceof ConfigError ? "info" : result.LOG_LEVEL;
}
