// The webhook sender: the queue consumer's one attempt at one delivery. Checks the destination again
// at send time (the URL rules, then what the host resolves to), signs the event, sends it under one
// clock for the whole exchange, reads at most an excerpt of the answer, records the attempt, and says
// whether to ack or retry with capped exponential backoff. The dead-letter consumer marks what
// exhausted its retries dead here too.

import type { WebhookOutboxRow } from "../../db/schema.ts";
import { loadDelivery, markDead, recordAttempt } from "../../db/webhooks.ts";
import { webhookEventId } from "../../domain/ids.ts";
import type { AttemptOutcome } from "../../domain/vocabulary.ts";
import {
  keyBytes,
  type SigningKey,
  signatureHeaders,
  tenantSigningKeys,
} from "../../domain/webhook-signing.ts";
import { addressIsPublic, webhookUrlProblem } from "../../domain/webhook-url.ts";
import { decryptSecret, importEncryptionKey } from "../../lib/secrets.ts";
import type { ServiceContext } from "../context.ts";
import { isPaused } from "../jobs.ts";
import { WEBHOOKS_JOB } from "./outbox.ts";

/** Response bodies are kept only as this much of an excerpt. */
const EXCERPT_CHARS = 300;
/**
 * The most of a response body ever read: enough for EXCERPT_CHARS characters of UTF-8. The rest is
 * never read (the stream is cancelled, which closes the connection), so an endless or huge body costs
 * at most this much memory, plus the one chunk it arrived in.
 */
const EXCERPT_BYTES = 4 * EXCERPT_CHARS;
/**
 * Sends in flight at once in one batch. A Worker invocation gets six connections waiting for headers
 * at a time (later fetches queue for one); four leaves room for the database and DNS round trips,
 * and a send's clock starts only once it holds a slot, so a send that queued is never taken for a
 * receiver's timeout.
 */
const SEND_SLOTS = 4;
/** Room in a batch's budget for what comes before a send: the database reads and the DNS check. */
const BATCH_PREPARATION_MS = 10_000;
/** Backoff: 10 s doubling per attempt, capped at 30 min, with jitter. */
const BACKOFF_BASE_SECONDS = 10;
const BACKOFF_CAP_SECONDS = 30 * 60;
/**
 * The longest wait a receiver's Retry-After can ask for. Kept below the sweep's stale window
 * (outbox.ts), so a delivery waiting out a Retry-After is never taken for lost and sent twice.
 */
const MAX_RETRY_AFTER_SECONDS = 45 * 60;

/** What the queue consumer does with a message after one delivery attempt. */
export type DeliveryVerdict = { ack: true } | { retryAfterSeconds: number };

/**
 * What the deliveries of one queue batch share: SEND_SLOTS sends at a time, each given the whole
 * WEBHOOK_TIMEOUT_MS (connecting, the answer's headers and the part of its body we read), and a
 * deadline no send may run past. A send starts only if its whole timeout ends before the deadline;
 * one that cannot is not started, and its message is retried shortly. So a batch of n messages ends within
 * BATCH_PREPARATION_MS + ceil(n / SEND_SLOTS) × the timeout, plus the last attempt's database write:
 * for max_batch_size = 10 and the default 10 s, 40 s — far inside a consumer's 15-minute wall-clock
 * limit, and no hostile receiver can stretch it.
 */
export interface DeliveryBatch {
  readonly timeoutMs: number;
  /** Epoch milliseconds. */
  readonly deadline: number;
  /** Waits for a send slot; the function it resolves to gives the slot back. */
  acquire(): Promise<() => void>;
}

export function deliveryBatch(timeoutMs: number, messages: number, now = Date.now()): DeliveryBatch {
  const waves = Math.max(1, Math.ceil(messages / SEND_SLOTS));
  let free = SEND_SLOTS;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free += 1;
  };
  return {
    timeoutMs,
    deadline: now + BATCH_PREPARATION_MS + waves * timeoutMs,
    acquire: () =>
      new Promise((resolve) => {
        let released = false;
        const once = () => {
          if (released) return;
          released = true;
          release();
        };
        if (free > 0) {
          free -= 1;
          resolve(once);
        } else waiting.push(() => resolve(once));
      }),
  };
}

function backoffSeconds(attempt: number, retryAfter: number | null): number {
  const exponential = Math.min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.ceil(exponential * (0.5 + Math.random() * 0.5));
  return Math.max(jittered, Math.min(retryAfter ?? 0, MAX_RETRY_AFTER_SECONDS));
}

/** Retry-After as seconds (delta or HTTP date), or null. */
function retryAfterSeconds(header: string | null, now: number): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * The keys that sign a delivery: the request's own secret, else its tenant's keys derived from the
 * service keys (never the service keys themselves, which would let one tenant's receiver verify, and
 * forge, every tenant's events).
 */
async function signingKeys(
  ctx: ServiceContext,
  encryptedSecret: string | null,
  tenantId: string,
): Promise<SigningKey[]> {
  if (!encryptedSecret) return tenantSigningKeys(ctx.config.WEBHOOK_SIGNING_SECRETS, tenantId);
  const key = await importEncryptionKey(ctx.config.WEBHOOK_ENCRYPTION_KEY);
  if (!key) throw new Error("WEBHOOK_ENCRYPTION_KEY is not set: cannot read the request's secret");
  return [{ version: "request", bytes: keyBytes(await decryptSecret(encryptedSecret, key)) }];
}

/**
 * The body a receiver gets: the event, its id (stable across retries) and its place among the
 * request's events (`sequence`, from 1: receivers order by it), neither counting any other request's.
 */
export function eventBody(delivery: WebhookOutboxRow, sequence: number): string {
  return JSON.stringify({
    ...delivery.payload,
    event_id: webhookEventId(delivery.requestId, sequence),
    sequence,
  });
}

/**
 * One attempt at one delivery (the queue's `attempts` counts tries of this message). Records the
 * attempt, the delivery's state and the request's webhook columns, and says whether to ack or retry.
 */
export async function deliver(
  ctx: ServiceContext,
  deliveryId: number,
  queueAttempt: number,
  batch: DeliveryBatch = deliveryBatch(ctx.config.WEBHOOK_TIMEOUT_MS, 1),
): Promise<DeliveryVerdict> {
  const loaded = await loadDelivery(ctx.db, deliveryId);
  // Gone, or already settled (a duplicate from the sweep or a redelivery): nothing to send.
  if (!loaded) return { ack: true };
  if (loaded.delivery.status !== "pending") return { ack: true };
  const { delivery } = loaded;
  const started = Date.now();
  const record = (fields: {
    outcome: AttemptOutcome;
    deliveryStatus: WebhookOutboxRow["status"];
    statusCode?: number | null;
    error?: string | null;
    responseExcerpt?: string | null;
    requestStatus?: string | null;
    called: boolean;
    release?: boolean;
  }) =>
    recordAttempt(ctx.db, {
      deliveryId,
      requestId: delivery.requestId,
      outcome: fields.outcome,
      deliveryStatus: fields.deliveryStatus,
      statusCode: fields.statusCode ?? null,
      error: fields.error ?? null,
      responseExcerpt: fields.responseExcerpt ?? null,
      durationMs: Date.now() - started,
      requestStatus: fields.requestStatus ?? null,
      called: fields.called,
      release: fields.release ?? false,
      at: new Date(),
    });
  const count = (outcome: AttemptOutcome) => {
    ctx.metrics.count("nova_webhook_attempts_total", { outcome });
    ctx.metrics.count(
      "nova_webhook_attempt_duration_seconds_total",
      { outcome },
      (Date.now() - started) / 1000,
    );
  };

  if (await isPaused(ctx, WEBHOOKS_JOB)) {
    // Handed back to the sweep, which sends it once deliveries resume: nothing is lost while paused.
    await record({ outcome: "paused", deliveryStatus: "pending", called: false, release: true });
    count("paused");
    return { ack: true };
  }
  if (loaded.webhookUrl === null) {
    // The runbook's "disable webhooks" SQL sets webhook_url NULL: send nothing, say so.
    await record({
      outcome: "skipped",
      deliveryStatus: "skipped",
      error: "webhook_url is NULL",
      called: false,
    });
    count("skipped");
    return { ack: true };
  }
  // Checked again at send time: the rules may have tightened since the request was filed, and a name
  // may now resolve to a private address (outside development, where local receivers are allowed).
  const insecureAllowed = ctx.config.ALLOW_INSECURE_WEBHOOKS;
  let refused = webhookUrlProblem(loaded.webhookUrl, insecureAllowed);
  if (!refused && !insecureAllowed) {
    const resolved = await resolvedAddressProblem(ctx, new URL(loaded.webhookUrl).hostname);
    if (resolved === "unresolved") {
      await record({
        outcome: "retry",
        deliveryStatus: "pending",
        error: "could not resolve the host",
        requestStatus: "dns_error",
        called: false,
      });
      count("retry");
      return { retryAfterSeconds: backoffSeconds(queueAttempt, null) };
    }
    refused = resolved;
  }
  if (refused) {
    await record({
      outcome: "failed",
      deliveryStatus: "failed",
      error: `refused: ${refused}`,
      requestStatus: "refused",
      called: false,
    });
    count("failed");
    ctx.metrics.count("nova_webhook_failures_total", { reason: "refused" });
    return { ack: true };
  }

  const body = eventBody(delivery, loaded.sequence);
  let keys: SigningKey[];
  try {
    keys = await signingKeys(ctx, loaded.webhookSecretEncrypted, loaded.tenantId);
  } catch (error) {
    ctx.log.error("webhook_signing_key_unavailable", { delivery_id: deliveryId, error });
    keys = [];
  }
  if (keys.length === 0) {
    // Configuration, not the receiver: retry until an operator sets WEBHOOK_SIGNING_SECRETS.
    await record({
      outcome: "retry",
      deliveryStatus: "pending",
      error: "no signing key configured",
      requestStatus: "unsigned",
      called: false,
    });
    count("retry");
    return { retryAfterSeconds: backoffSeconds(queueAttempt, null) };
  }
  const headers = await signatureHeaders(
    keys,
    webhookEventId(delivery.requestId, loaded.sequence),
    Math.floor(Date.now() / 1000),
    body,
  );

  const release = await batch.acquire();
  const timeoutMs = batch.timeoutMs;
  let response: Response;
  let excerpt: string;
  try {
    if (Date.now() + timeoutMs > batch.deadline) {
      // Not the receiver's doing: nothing was sent, so it is not counted as a call, and it goes again soon.
      await record({
        outcome: "retry",
        deliveryStatus: "pending",
        error: "not sent: the queue batch ran out of time",
        called: false,
      });
      count("retry");
      return { retryAfterSeconds: NOT_SENT_RETRY_SECONDS };
    }
    // One clock for the whole exchange: connecting, the headers, and the excerpt of the body.
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      response = await fetch(loaded.webhookUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "User-Agent": "policy-api-webhooks", ...headers },
        body,
        redirect: "manual",
        signal,
      });
    } catch (error) {
      const timedOut = signal.aborted;
      await record({
        outcome: "retry",
        deliveryStatus: "pending",
        error: timedOut ? `no answer within ${timeoutMs} ms` : `network error: ${errorText(error)}`,
        requestStatus: timedOut ? "timeout" : "network_error",
        called: true,
      });
      count("retry");
      return { retryAfterSeconds: backoffSeconds(queueAttempt, null) };
    }
    excerpt = await readExcerpt(response, signal, timeoutMs);
  } finally {
    release();
  }
  const status = response.status;
  if (status >= 200 && status < 300) {
    await record({
      outcome: "success",
      deliveryStatus: "delivered",
      statusCode: status,
      responseExcerpt: excerpt,
      requestStatus: "success",
      called: true,
    });
    count("success");
    return { ack: true };
  }
  if (status === 408 || status === 429 || status >= 500) {
    await record({
      outcome: "retry",
      deliveryStatus: "pending",
      statusCode: status,
      responseExcerpt: excerpt,
      requestStatus: `http_${status}`,
      called: true,
    });
    count("retry");
    return {
      retryAfterSeconds: backoffSeconds(
        queueAttempt,
        retryAfterSeconds(response.headers.get("Retry-After"), Date.now()),
      ),
    };
  }
  // Any other answer (4xx, or a redirect, which is never followed) will not change by retrying.
  const error = status >= 300 && status < 400 ? "redirects are not followed" : null;
  await record({
    outcome: "failed",
    deliveryStatus: "failed",
    statusCode: status,
    error,
    responseExcerpt: excerpt,
    requestStatus: `http_${status}`,
    called: true,
  });
  count("failed");
  ctx.metrics.count("nova_webhook_failures_total", { reason: "rejected" });
  return { ack: true };
}

/** How long the DNS-over-HTTPS resolver (WEBHOOK_DNS_RESOLVER) gets for each lookup. */
const DNS_TIMEOUT_MS = 3000;

/**
 * What the host resolves to right now, checked with the same rule as IP literals (addressIsPublic):
 * undefined when every address is public, a refusal when one is not, "unresolved" when the lookup
 * failed (a retry, not a refusal). IP literals were checked with the URL.
 */
async function resolvedAddressProblem(
  ctx: ServiceContext,
  hostname: string,
): Promise<string | undefined | "unresolved"> {
  const host = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  if (/^[\d.]+$/.test(host) || host.includes(":")) return undefined;
  const resolver = ctx.config.WEBHOOK_DNS_RESOLVER;
  const addresses: string[] = [];
  try {
    for (const type of ["A", "AAAA"]) {
      const url = `${resolver}?name=${encodeURIComponent(host)}&type=${type}`;
      const res = await fetch(url, {
        headers: { Accept: "application/dns-json" },
        signal: AbortSignal.timeout(DNS_TIMEOUT_MS),
      });
      if (!res.ok) return "unresolved";
      const answer = (await res.json()) as { Status?: number; Answer?: { type: number; data: string }[] };
      if (answer.Status !== 0 && answer.Status !== 3) return "unresolved";
      // Record types 1 (A) and 28 (AAAA); CNAMEs in between are followed by the resolver.
      for (const record of answer.Answer ?? [])
        if (record.type === 1 || record.type === 28) addresses.push(record.data);
    }
  } catch {
    return "unresolved";
  }
  if (addresses.length === 0) return "unresolved";
  const blocked = addresses.find((address) => !addressIsPublic(address));
  return blocked ? `${host} resolves to ${blocked}, which is not a public address` : undefined;
}

/** A message not sent because its batch ran out of time goes again after this long. */
const NOT_SENT_RETRY_SECONDS = 5;

/**
 * The start of a response body, as the attempt's excerpt: at most EXCERPT_BYTES are read, and no
 * longer than the attempt's clock allows; then the stream is cancelled, which lets the connection go.
 * The status alone decides the outcome, so a body cut short (endless, huge, trickling, broken off)
 * changes nothing but the excerpt, which says where and why it was cut.
 */
async function readExcerpt(response: Response, signal: AbortSignal, timeoutMs: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  // A read that is pending when the clock runs out is abandoned (and the stream cancelled below).
  const timedOut = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  timedOut.catch(() => {});
  const bytes = new Uint8Array(EXCERPT_BYTES);
  let size = 0;
  let cut: string | null = null;
  try {
    while (size < EXCERPT_BYTES) {
      const chunk = await Promise.race([reader.read(), timedOut]);
      if (chunk.done) break;
      const take = Math.min(chunk.value.byteLength, EXCERPT_BYTES - size);
      bytes.set(chunk.value.subarray(0, take), size);
      size += take;
      if (size === EXCERPT_BYTES) cut = `cut: not read past ${EXCERPT_BYTES} bytes`;
    }
  } catch (error) {
    cut = signal.aborted
      ? `cut: the body did not end within ${timeoutMs} ms`
      : `cut: the body broke off: ${errorText(error)}`;
  } finally {
    reader.cancel().catch(() => {});
  }
  // Streaming decode: an incomplete character at the cut is dropped rather than mangled.
  const text = new TextDecoder().decode(bytes.subarray(0, size), { stream: true });
  if (cut) return `${text.slice(0, EXCERPT_CHARS)} [${cut}]`;
  return text.slice(0, EXCERPT_CHARS);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200);
}

/** The dead-letter consumer: retries exhausted, the delivery is dead (and counted). */
export async function markDeliveryDead(ctx: ServiceContext, deliveryId: number): Promise<void> {
  const requestId = await markDead(ctx.db, deliveryId, new Date());
  if (requestId) {
    ctx.metrics.count("nova_webhook_failures_total", { reason: "dead" });
    ctx.log.warn("webhook_delivery_dead", { delivery_id: deliveryId, request_id: requestId });
  }
}
