// PolicyClient: the hand-written surface of the TypeScript SDK over fetch. It evaluates an action,
// files an approval request (with an idempotency key that its own retries reuse), waits for the
// decision (the events stream, resumed with Last-Event-ID when a connection drops; long-poll where the
// stream is unavailable) and guards an action: the action runs only when policy allows it or people
// approved it, with the approved payload, after the receipt (when the server issued one) verifies.
// Every other outcome, and every failure, throws a typed PolicyError: it fails closed.
import type { JSONWebKeySet } from "jose";
import { verifyReceipt } from "../../../src/lib/receipt-verify.ts";
import {
  PolicyCancelledError,
  PolicyDeniedError,
  PolicyError,
  PolicyExpiredError,
  PolicyNetworkError,
  PolicyReceiptError,
  PolicyRejectedError,
  PolicyTimeoutError,
} from "./errors.ts";
import type {
  ApprovalRequest,
  CreateApprovalRequest,
  CreatedApprovalRequest,
  EvalRequest,
  EvalResponse,
} from "./generated/index.ts";

export interface PolicyClientOptions {
  /** The API's origin; default $POLICY_API_URL, else http://127.0.0.1:8000 (what `npm run dev` serves). */
  baseUrl?: string;
  /** An agent key (`pk_…`), sent as a Bearer token and never logged; default $POLICY_AGENT_KEY. */
  apiKey?: string;
  /** Replaces the global fetch (a proxy, a test double, an instrumented client). */
  fetch?: typeof fetch;
  /** Retries of one call after a 429, a 503 or (on a call safe to repeat) a network error; default 3. */
  retries?: number;
  /** Time allowed for one HTTP call (a wait adds its own length); default 30 000 ms. */
  timeoutMs?: number;
  /** Longest Retry-After the client sleeps through; a longer one ends the retries. Default 30 000 ms. */
  maxRetryDelayMs?: number;
}

/** The action as evaluation sees it. */
export type PolicyCall = EvalRequest;

export interface WaitOptions {
  /** How long to wait for a decision in all; default 300 000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Wait by long-poll even where the events stream is available. */
  longPoll?: boolean;
}

export interface GuardOptions extends WaitOptions {
  /** Who asks (`requested_by`); default the call's agent_id. */
  requestedBy?: string;
  justification?: string;
  expiresInSeconds?: number;
  idempotencyKey?: string;
  /** Refuse an approval that carries no receipt (when the server always signs them). Default false. */
  requireReceipt?: boolean;
  /**
   * Redeem the approval's receipt (single use) before running `fn`, so one approval runs the action
   * once: a receipt redeemed before refuses (`receipt_already_redeemed`). Default false.
   */
  redeem?: boolean;
  /** Cancel the request when the wait times out (default true): nobody approves what will not run. */
  cancelOnTimeout?: boolean;
  /** Told the request once it is filed and waiting (to show its id to a person). */
  onPending?: (request: CreatedApprovalRequest) => void;
}

const DEFAULT_BASE_URL = "http://127.0.0.1:8000";

/** The process environment where there is one (Node, Bun, Deno with compat); none in a browser. */
function environment(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.[name];
  return value === undefined || value === "" ? undefined : value;
}

const TERMINAL = new Set(["approved", "auto_approved", "rejected", "expired", "cancelled"]);
const MAX_LONG_POLL_SECONDS = 55;

interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Safe to repeat after a network error (a read, or a create with its idempotency key). */
  idempotent: boolean;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

export class PolicyClient {
  readonly #baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #retries: number;
  readonly #timeoutMs: number;
  readonly #maxRetryDelayMs: number;
  #jwks: Promise<JSONWebKeySet> | undefined;

  constructor(options: PolicyClientOptions = {}) {
    const baseUrl = options.baseUrl ?? environment("POLICY_API_URL") ?? DEFAULT_BASE_URL;
    const apiKey = options.apiKey ?? environment("POLICY_AGENT_KEY");
    // A missing key is the caller's setup, not an API answer: said at once, before any call.
    if (apiKey === undefined || apiKey === "") {
      throw new TypeError(
        "PolicyClient: no API key: pass { apiKey } or set POLICY_AGENT_KEY to an agent key",
      );
    }
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
    this.#apiKey = apiKey;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#retries = Math.max(0, options.retries ?? 3);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  }

  /** POST /api/v1/policy/eval: allow, deny or requires_approval, with the reasons. */
  async evaluate(call: PolicyCall, options: { signal?: AbortSignal } = {}): Promise<EvalResponse> {
    // Evaluation changes nothing but the decision log, so a network error may be retried.
    const res = await this.#call("POST", "/api/v1/policy/eval", {
      body: call,
      idempotent: true,
      signal: options.signal,
    });
    return (await res.json()) as EvalResponse;
  }

  /** POST /api/v1/policy/requests with an Idempotency-Key (generated unless given; reused by retries). */
  async requestApproval(
    call: CreateApprovalRequest,
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<CreatedApprovalRequest> {
    const res = await this.#call("POST", "/api/v1/policy/requests", {
      body: call,
      headers: { "Idempotency-Key": options.idempotencyKey ?? `sdk-${crypto.randomUUID()}` },
      idempotent: true,
      signal: options.signal,
    });
    return (await res.json()) as CreatedApprovalRequest;
  }

  /** GET /api/v1/policy/requests/{id}, held up to `waitSeconds` (≤ 55) until decided. */
  async getRequest(id: string, options: { waitSeconds?: number; signal?: AbortSignal } = {}) {
    const wait = Math.max(0, Math.min(MAX_LONG_POLL_SECONDS, Math.floor(options.waitSeconds ?? 0)));
    const query = wait > 0 ? `?wait=${wait}` : "";
    const res = await this.#call("GET", `/api/v1/policy/requests/${encodeURIComponent(id)}${query}`, {
      idempotent: true,
      signal: options.signal,
      timeoutMs: this.#timeoutMs + wait * 1000,
    });
    return (await res.json()) as ApprovalRequest;
  }

  /** POST /api/v1/policy/requests/{id}/cancel (the requester withdraws it); answers the cancelled request. */
  async cancelRequest(id: string, reason?: string): Promise<ApprovalRequest> {
    // Not repeated after a network error: a lost answer to a cancel that took would read as a 409.
    const res = await this.#call("POST", `/api/v1/policy/requests/${encodeURIComponent(id)}/cancel`, {
      body: reason === undefined ? {} : { reason },
      idempotent: false,
    });
    return (await res.json()) as ApprovalRequest;
  }

  /**
   * Waits until the request is decided and returns it (any terminal status: the caller reads
   * `status`/`outcome`). Throws PolicyTimeoutError when `timeoutMs` passes first.
   */
  async waitForDecision(id: string, options: WaitOptions = {}): Promise<ApprovalRequest> {
    const deadline = Date.now() + (options.timeoutMs ?? 300_000);
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), Math.max(0, deadline - Date.now()));
    const signal = options.signal ? AbortSignal.any([options.signal, timer.signal]) : timer.signal;
    try {
      let streaming = options.longPoll !== true;
      let lastEventId: string | undefined;
      let failures = 0;
      for (;;) {
        if (Date.now() >= deadline) break;
        try {
          if (streaming) {
            const opened = Date.now();
            const streamed = await this.#streamOnce(id, lastEventId, signal, (eventId) => {
              lastEventId = eventId;
              failures = 0; // progress: a later drop starts its count again
            });
            if (streamed === "unavailable") streaming = false;
            else if (streamed !== "ended") return streamed;
            // Ended undecided (the stream's 55 s bound): reconnect, resuming after the last event. A
            // stream that ended at once waits the server's `retry` (1 s) first: no tight loop.
            if (streamed === "ended" && Date.now() - opened < 1000) await sleep(1000, signal).catch(() => {});
          } else {
            const left = Math.floor((deadline - Date.now()) / 1000);
            const request = await this.getRequest(id, { waitSeconds: left, signal });
            if (TERMINAL.has(request.status)) return request;
            if (left <= 0) break;
          }
        } catch (error) {
          if (signal.aborted) break;
          // A dropped connection resumes; only so many drops in a row without any progress.
          if (!(error instanceof PolicyNetworkError) || ++failures > this.#retries) throw error;
          await sleep(backoffMs(failures), signal).catch(() => {});
        }
      }
      if (options.signal?.aborted) throw aborted(options.signal);
      throw new PolicyTimeoutError(`no decision on ${id} within the time allowed`, id);
    } finally {
      clearTimeout(timeout);
    }
  }

  /**
   * Runs `fn` only if the action is allowed: at once when policy allows it (with the call's payload);
   * after people approve it when it requires approval (with the approved payload, which is the edited
   * one when an approver changed it, and after its receipt verifies). Throws otherwise, never running fn.
   */
  async guard<T>(
    action: PolicyCall,
    fn: (payload: Record<string, unknown>) => T | Promise<T>,
    options: GuardOptions = {},
  ): Promise<T> {
    const payload = action.payload ?? {};
    const evaluated = await this.evaluate(action, options.signal ? { signal: options.signal } : {});
    if (evaluated.decision === "allow") return fn(payload);
    if (evaluated.decision !== "requires_approval") {
      throw new PolicyDeniedError({
        code: "policy_denied",
        message: `policy denies ${action.skill_id}: not acting`,
        details: {
          decision: evaluated.decision,
          reasons: evaluated.reasons,
          violations: evaluated.violations,
        },
        reasons: evaluated.reasons,
      });
    }
    const filed = await this.requestApproval(
      {
        policy_type: action.policy_type ?? "cost",
        skill_id: action.skill_id,
        tenant_id: action.tenant_id,
        agent_id: action.agent_id ?? null,
        payload,
        requested_by: options.requestedBy ?? action.agent_id ?? "sdk",
        justification: options.justification ?? null,
        ...(options.expiresInSeconds === undefined ? {} : { expires_in_seconds: options.expiresInSeconds }),
      },
      {
        ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
    if (filed.status !== "auto_approved") options.onPending?.(filed);
    let decided: ApprovalRequest;
    try {
      decided =
        filed.status === "auto_approved"
          ? await this.getRequest(filed.request_id, options.signal ? { signal: options.signal } : {})
          : await this.waitForDecision(filed.request_id, options);
    } catch (error) {
      // Undecided is not approved: withdraw the request (best effort) so nobody approves what will not run.
      if (error instanceof PolicyTimeoutError && options.cancelOnTimeout !== false) {
        await this.cancelRequest(filed.request_id, "the agent stopped waiting for a decision").catch(
          () => {},
        );
      }
      throw error;
    }
    const approvedPayload = await this.#approvedPayload(
      decided,
      payload,
      options.requireReceipt === true || options.redeem === true,
    );
    if (options.redeem) await this.redeemReceipt(decided, options.signal ? { signal: options.signal } : {});
    return fn(approvedPayload);
  }

  /**
   * POST /api/v1/policy/receipts/{id}/redeem for the request's receipt: uses the approval once. Throws
   * PolicyReceiptError `receipt_already_redeemed` when it was redeemed before (409), `receipt_missing`
   * when the request has none. Not repeated after a network error: the first call may have redeemed it.
   */
  async redeemReceipt(request: ApprovalRequest, options: { signal?: AbortSignal } = {}): Promise<void> {
    const receiptId = request.receipt?.receipt_id;
    if (receiptId === undefined) throw new PolicyReceiptError("missing", request.request_id);
    try {
      await this.#call("POST", `/api/v1/policy/receipts/${encodeURIComponent(receiptId)}/redeem`, {
        body: {},
        idempotent: false,
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof PolicyError && error.status === 409) {
        throw new PolicyReceiptError("already_redeemed", request.request_id);
      }
      throw error;
    }
  }

  /** The payload a decided request allows, or the typed error of why it allows nothing. */
  async #approvedPayload(
    request: ApprovalRequest,
    filed: Record<string, unknown>,
    requireReceipt: boolean,
  ): Promise<Record<string, unknown>> {
    if (request.status === "rejected") throw new PolicyRejectedError(request);
    if (request.status === "expired") throw new PolicyExpiredError(request);
    if (request.status === "cancelled") throw new PolicyCancelledError(request);
    const approved =
      (request.status === "approved" || request.status === "auto_approved") &&
      request.outcome?.may_proceed !== false;
    if (!approved) throw new PolicyTimeoutError(`request ${request.request_id} is not decided`);
    // The edit an approver made is what was approved; else the filed payload as the server holds it.
    const payload = request.approved_payload ?? request.payload ?? filed;
    if (!isRecord(payload)) throw new PolicyReceiptError("malformed", request.request_id);
    const jws = request.receipt?.jws;
    if (jws === undefined) {
      if (requireReceipt) throw new PolicyReceiptError("missing", request.request_id);
      return payload;
    }
    let check = await verifyReceipt(jws, await this.#keySet(false), {
      payload,
      requestId: request.request_id,
    });
    // A key rotated in since the set was cached: fetch it once more.
    if (!check.ok && check.refused === "unknown_key") {
      check = await verifyReceipt(jws, await this.#keySet(true), { payload, requestId: request.request_id });
    }
    if (!check.ok) throw new PolicyReceiptError(check.refused, request.request_id);
    return payload;
  }

  /** GET /.well-known/jwks.json, once per client (again only when asked to, after an unknown kid). */
  #keySet(refresh: boolean): Promise<JSONWebKeySet> {
    if (refresh || !this.#jwks) {
      const loading = this.#call("GET", "/.well-known/jwks.json", { idempotent: true }).then(
        async (res) => (await res.json()) as JSONWebKeySet,
      );
      // A failed fetch is not cached: the next guard asks again.
      loading.catch(() => {
        if (this.#jwks === loading) this.#jwks = undefined;
      });
      this.#jwks = loading;
    }
    return this.#jwks;
  }

  /**
   * One events stream (≤ 55 s): the decided request, "ended" when the stream closed undecided, or
   * "unavailable" when the server offers no stream. Each event id goes to `onEvent` for the resume.
   */
  async #streamOnce(
    id: string,
    lastEventId: string | undefined,
    signal: AbortSignal,
    onEvent: (eventId: string) => void,
  ): Promise<ApprovalRequest | "ended" | "unavailable"> {
    const res = await this.#call("GET", `/api/v1/policy/requests/${encodeURIComponent(id)}/events`, {
      headers: { Accept: "text/event-stream", ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) },
      idempotent: true,
      signal,
      streaming: true,
    });
    if (res.status === 204) {
      // We hold a terminal state already only if we returned it; read the request as it stands.
      const request = await this.getRequest(id, { signal });
      return TERMINAL.has(request.status) ? request : "ended";
    }
    if (!res.body || !(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      await res.body?.cancel();
      return "unavailable";
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (signal.aborted) throw error;
          throw new PolicyNetworkError(`the events stream of ${id} broke`, error);
        }
        if (chunk.done) return "ended";
        buffer += chunk.value.replace(/\r\n?/g, "\n");
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseEvent(block);
          if (event.data === undefined) continue; // a comment (heartbeat) or a retry line
          let request: ApprovalRequest;
          try {
            request = JSON.parse(event.data) as ApprovalRequest;
          } catch (error) {
            // A garbled event: treated as a broken connection (resumed from the last good event).
            throw new PolicyNetworkError(`the events stream of ${id} sent an unreadable event`, error);
          }
          if (event.id !== undefined) onEvent(event.id);
          if (TERMINAL.has(request.status)) return request;
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** One API call with its retries: 429/503 (Retry-After honoured), network errors when idempotent. */
  async #call(
    method: string,
    path: string,
    options: CallOptions & { streaming?: boolean },
  ): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.#apiKey}`, ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    for (let attempt = 0; ; attempt++) {
      if (options.signal?.aborted) throw aborted(options.signal);
      // A stream's body outlives the call's time limit: the limit covers its headers only.
      const limit = new AbortController();
      const timer = setTimeout(() => limit.abort(), options.timeoutMs ?? this.#timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, limit.signal]) : limit.signal;
      let res: Response;
      try {
        res = await this.#fetch(`${this.#baseUrl}${path}`, {
          method,
          headers,
          signal,
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        });
        if (!options.streaming) {
          // Read the body under the same limit, so a stalled body is a network error like the rest.
          const body = await res.arrayBuffer();
          res = new Response(res.status === 204 ? null : body, res);
        }
      } catch (error) {
        clearTimeout(timer);
        if (options.signal?.aborted) throw aborted(options.signal);
        const failure = new PolicyNetworkError(
          limit.signal.aborted
            ? `${method} ${path}: no answer within the time allowed`
            : `${method} ${path}: ${error instanceof Error ? error.message : String(error)}`,
          error,
        );
        if (!options.idempotent || attempt >= this.#retries) throw failure;
        await sleep(backoffMs(attempt + 1), options.signal);
        continue;
      } finally {
        if (!options.streaming) clearTimeout(timer);
      }
      if (options.streaming) clearTimeout(timer);
      if (res.ok) return res;
      const error = await apiError(res);
      if ((res.status === 429 || res.status === 503) && attempt < this.#retries) {
        const delay = retryAfterMs(res.headers.get("retry-after")) ?? backoffMs(attempt + 1);
        if (delay <= this.#maxRetryDelayMs) {
          await sleep(delay, options.signal);
          continue;
        }
      }
      throw error;
    }
  }
}

/** The error envelope as a typed error; policy_denied as PolicyDeniedError. */
async function apiError(res: Response): Promise<PolicyError> {
  let envelope: { error?: { code?: string; message?: string; details?: unknown; request_id?: string } } = {};
  try {
    envelope = (await res.json()) as typeof envelope;
  } catch {
    // Not the envelope (a proxy's page): the status says enough.
  }
  const init = {
    code: envelope.error?.code ?? `http_${res.status}`,
    message: envelope.error?.message ?? `HTTP ${res.status}`,
    status: res.status,
    details: envelope.error?.details,
    requestId: envelope.error?.request_id,
  };
  if (init.code === "policy_denied") {
    const reasons = (init.details as { reasons?: unknown } | undefined)?.reasons;
    return new PolicyDeniedError({
      ...init,
      reasons: Array.isArray(reasons) ? reasons.map(String) : [],
    });
  }
  return new PolicyError({ ...init, kind: "api" });
}

function parseEvent(block: string): { id?: string; data?: string } {
  const event: { id?: string; data?: string } = {};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") event.id = value;
    else if (field === "data") event.data = event.data === undefined ? value : `${event.data}\n${value}`;
  }
  return event;
}

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Exponential backoff with jitter: about 250 ms, 500 ms, 1 s, … capped at 8 s. */
function backoffMs(attempt: number): number {
  const base = Math.min(8000, 250 * 2 ** (attempt - 1));
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal | undefined): PolicyError {
  return new PolicyError({
    kind: "aborted",
    code: "aborted",
    message: "the caller aborted",
    cause: signal?.reason,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
