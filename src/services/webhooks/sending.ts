// The sending machinery every delivery of the outbox shares, whatever it carries (a request's webhook
// event, services/webhooks/delivery.ts; a notification, services/notifications/send.ts): the queue
// batch's send slots and deadline, backoff with Retry-After, and one POST under one clock with the
// destination checked again at send time, at most an excerpt of the answer read, the attempt recorded
// and the verdict (ack or retry after a delay) given to the queue consumer.
import type { WebhookOutboxRow } from "../../db/schema.ts";
import { recordAttempt } from "../../db/webhooks.ts";
import type { AttemptOutcome } from "../../domain/vocabulary.ts";
import { addressIsPublic, webhookUrlProblem } from "../../domain/webhook-url.ts";
import type { ServiceContext } from "../context.ts";

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

export function backoffSeconds(attempt: number, retryAfter: number | null): number {
  const exponential = Math.min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.ceil(exponential * (0.5 + Math.random() * 0.5));
  return Math.max(jittered, Math.min(retryAfter ?? 0, MAX_RETRY_AFTER_SECONDS));
}

/** Retry-After as seconds (delta or HTTP date), or null. */
export function retryAfterSeconds(header: string | null, now: number): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

/** What one attempt writes: the attempt row and the delivery's state (and a request webhook's M5 columns). */
export interface AttemptFields {
  outcome: AttemptOutcome;
  deliveryStatus: WebhookOutboxRow["status"];
  statusCode?: number | null;
  error?: string | null;
  responseExcerpt?: string | null;
  /** For a request webhook's last_webhook_status ('success', 'http_500', 'timeout', ...). */
  requestStatus?: string | null;
  called: boolean;
  release?: boolean;
}

/**
 * How one attempt is recorded and counted: the same for a request's webhook and a notification, but
 * for the request's M5 columns (webhook_attempts, last_webhook_status), which only the former touches,
 * and the metrics' names.
 */
export interface Attempt {
  deliveryId: number;
  record(fields: AttemptFields): Promise<void>;
  /** Counts the attempt's outcome (and its duration). */
  count(outcome: AttemptOutcome): void;
  /** Counts a delivery that failed for good. */
  failed(reason: "refused" | "rejected"): void;
}

/**
 * How an attempt at `delivery` is written (Attempt.record): the attempt row and the delivery's state in
 * one round trip, and, for a request's own webhook (`requestColumns`), its M5 columns
 * (webhook_attempts, last_webhook_status), which a notification never touches. The duration runs from
 * `started`.
 */
export function attemptRecorder(
  ctx: ServiceContext,
  delivery: Pick<WebhookOutboxRow, "id" | "requestId">,
  options: { requestColumns: boolean; started: number },
): Attempt["record"] {
  return (fields) =>
    recordAttempt(ctx.db, {
      deliveryId: delivery.id,
      requestId: delivery.requestId,
      outcome: fields.outcome,
      deliveryStatus: fields.deliveryStatus,
      statusCode: fields.statusCode ?? null,
      error: fields.error ?? null,
      responseExcerpt: fields.responseExcerpt ?? null,
      durationMs: Date.now() - options.started,
      requestStatus: options.requestColumns ? (fields.requestStatus ?? null) : null,
      requestColumns: options.requestColumns,
      called: fields.called,
      release: fields.release ?? false,
      at: new Date(),
    });
}

/** Paused: handed back to the sweep, which sends it once deliveries resume; nothing is lost while paused. */
export async function handBack(attempt: Attempt): Promise<DeliveryVerdict> {
  await attempt.record({ outcome: "paused", deliveryStatus: "pending", called: false, release: true });
  attempt.count("paused");
  return { ack: true };
}

/** Configuration, not the receiver, is missing: nothing was sent; retried with backoff until it is set. */
export async function retryForConfiguration(
  attempt: Attempt,
  queueAttempt: number,
  error: string,
  requestStatus: string | null = null,
): Promise<DeliveryVerdict> {
  await attempt.record({ outcome: "retry", deliveryStatus: "pending", error, requestStatus, called: false });
  attempt.count("retry");
  return { retryAfterSeconds: backoffSeconds(queueAttempt, null) };
}

/** Settles a delivery without sending it (a removed contact point, a request no longer waiting). */
export async function skip(attempt: Attempt, error: string): Promise<DeliveryVerdict> {
  await attempt.record({ outcome: "skipped", deliveryStatus: "skipped", error, called: false });
  attempt.count("skipped");
  return { ack: true };
}

/** What to POST where. */
export interface Outgoing {
  url: string;
  /** Text, or bytes (a Web Push's encrypted body). */
  body: string | Uint8Array<ArrayBuffer>;
  headers: Record<string, string>;
  /** Told the status of every answer, before the verdict (a push subscription the service says is gone). */
  onAnswer?: (status: number) => Promise<void>;
}

/**
 * POSTs `outgoing` once for `attempt`: the destination checked again at send time (the URL rules, then
 * what the host resolves to), a send slot of the batch, one clock for the whole exchange, at most an
 * excerpt of the answer read; the attempt recorded and the verdict given (2xx delivered; 408, 429 and
 * 5xx retried with backoff and Retry-After; any other answer, a redirect included, failed for good).
 */
export async function postToReceiver(
  ctx: ServiceContext,
  attempt: Attempt,
  outgoing: Outgoing,
  queueAttempt: number,
  batch: DeliveryBatch,
): Promise<DeliveryVerdict> {
  // Checked again at send time: the rules may have tightened since the request was filed, and a name
  // may now resolve to a private address (outside development, where local receivers are allowed).
  const insecureAllowed = ctx.config.ALLOW_INSECURE_WEBHOOKS;
  let refused = webhookUrlProblem(outgoing.url, insecureAllowed);
  if (!refused && !insecureAllowed) {
    const resolved = await resolvedAddressProblem(ctx, new URL(outgoing.url).hostname);
    if (resolved === "unresolved") {
      await attempt.record({
        outcome: "retry",
        deliveryStatus: "pending",
        error: "could not resolve the host",
        requestStatus: "dns_error",
        called: false,
      });
      attempt.count("retry");
      return { retryAfterSeconds: backoffSeconds(queueAttempt, null) };
    }
    refused = resolved;
  }
  if (refused) {
    await attempt.record({
      outcome: "failed",
      deliveryStatus: "failed",
      error: `refused: ${refused}`,
      requestStatus: "refused",
      called: false,
    });
    attempt.count("failed");
    attempt.failed("refused");
    return { ack: true };
  }

  const release = await batch.acquire();
  const timeoutMs = batch.timeoutMs;
  let response: Response;
  let excerpt: string;
  try {
    if (Date.now() + timeoutMs > batch.deadline) {
      // Not the receiver's doing: nothing was sent, so it is not counted as a call, and it goes again soon.
      await attempt.record({
        outcome: "retry",
        deliveryStatus: "pending",
        error: "not sent: the queue batch ran out of time",
        called: false,
      });
      attempt.count("retry");
      return { retryAfterSeconds: NOT_SENT_RETRY_SECONDS };
    }
    // One clock for the whole exchange: connecting, the headers, and the excerpt of the body.
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      response = await fetch(outgoing.url, {
        method: "POST",
        headers: { "User-Agent": "policy-api-webhooks", ...outgoing.headers },
        body: outgoing.body,
        redirect: "manual",
        signal,
      });
    } catch (error) {
      const timedOut = signal.aborted;
      await attempt.record({
        outcome: "retry",
        deliveryStatus: "pending",
        error: timedOut ? `no answer within ${timeoutMs} ms` : `network error: ${errorText(error)}`,
        requestStatus: timedOut ? "timeout" : "network_error",
        called: true,
      });
      attempt.count("retry");
      return { retryAfterSeconds: backoffSeconds(queueAttempt, null) };
    }
    excerpt = await readExcerpt(response, signal, timeoutMs);
  } finally {
    release();
  }
  const status = response.status;
  await outgoing.onAnswer?.(status);
  if (status >= 200 && status < 300) {
    await attempt.record({
      outcome: "success",
      deliveryStatus: "delivered",
      statusCode: status,
      responseExcerpt: excerpt,
      requestStatus: "success",
      called: true,
    });
    attempt.count("success");
    return { ack: true };
  }
  if (status === 408 || status === 429 || status >= 500) {
    await attempt.record({
      outcome: "retry",
      deliveryStatus: "pending",
      statusCode: status,
      responseExcerpt: excerpt,
      requestStatus: `http_${status}`,
      called: true,
    });
    attempt.count("retry");
    return {
      retryAfterSeconds: backoffSeconds(
        queueAttempt,
        retryAfterSeconds(response.headers.get("Retry-After"), Date.now()),
      ),
    };
  }
  // Any other answer (4xx, or a redirect, which is never followed) will not change by retrying.
  const error = status >= 300 && status < 400 ? "redirects are not followed" : null;
  await attempt.record({
    outcome: "failed",
    deliveryStatus: "failed",
    statusCode: status,
    error,
    responseExcerpt: excerpt,
    requestStatus: `http_${status}`,
    called: true,
  });
  attempt.count("failed");
  attempt.failed("rejected");
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
export const NOT_SENT_RETRY_SECONDS = 5;

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

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200);
}
