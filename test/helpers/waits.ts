// Waiting, for the tests of issue 24 (test/wait-wake.test.ts, test/wait-eviction.test.ts,
// test/events-stream.test.ts): a tenant of its own per test (so its wait gate and rooms start empty),
// held waits, the leases they hold in the WaitGate, and the events stream read by the real
// EventSource client over an emulated connection.
import { createExecutionContext, env, runInDurableObject } from "cloudflare:test";
import { type ErrorEvent, EventSource, type FetchLike } from "eventsource";
import { expect } from "vitest";
import type { Bindings } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { testEnv, testSql } from "./database.ts";
import { BASE_URL, call, postJson } from "./http.ts";
import { createTestKey, type TestKey } from "./keys.ts";
import { fileRequest } from "./requests.ts";

export const REQUESTS = "/api/v1/policy/requests";

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const uniqueTenant = () => `wake-${crypto.randomUUID().slice(0, 8)}`;

/**
 * A tenant of its own (with `policy` for cost requests, set by `admin`), an agent key confined to it
 * (the requester of what it files), an approver, and a pending request of the tenant.
 */
export async function scene(
  options: { admin?: TestKey; policy?: Record<string, unknown>; filing?: Record<string, unknown> } = {},
) {
  const tenant = uniqueTenant();
  if (options.policy) {
    if (!options.admin) throw new Error("a policy needs an admin key");
    await withPolicy(options.admin, tenant, options.policy);
  }
  const agent = await createTestKey("agent", { tenantId: tenant });
  const approver = await createTestKey("approver");
  const id = await fileRequest(agent, { tenant_id: tenant, ...options.filing });
  return { tenant, agent, approver, id };
}

/** The request as GET answers it (the fields these tests read). */
export interface ApiRequest {
  request_id: string;
  status: string;
  tenant_id: string;
  approvers: unknown[];
  status_history: { to_status: string }[];
}

/** Polls `check` every 25 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** The live leases in the tenant's wait gate: one per open wait (?wait, MCP, a stream) of its keys. */
export function openLeases(tenant: string): Promise<number> {
  return runInDurableObject(env.WAIT_GATE.getByName(`tenant:${tenant}`), (_gate, state) => {
    return state.storage.sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM leases WHERE expires_at > ?", Date.now())
      .one().n;
  });
}

/**
 * Until the tenant holds `count` leases: each of those waits has read the request (a wait takes its
 * lease after its first read), so a transition from now on happens while it waits.
 */
export function untilLeases(tenant: string, count: number, timeoutMs = 15_000): Promise<void> {
  return until(
    `${count} open waits in ${tenant}`,
    async () => (await openLeases(tenant)) === count,
    timeoutMs,
  );
}

/** The request's version in the database (an event's id). */
export async function versionOf(id: string): Promise<number> {
  const [row] = (await testSql()`SELECT version FROM approval_requests WHERE id = ${id}`) as {
    version: number;
  }[];
  if (!row) throw new Error(`no request ${id}`);
  return row.version;
}

/** A held `GET …?wait=N` and what it answered: the HTTP status, the body, and when (ms since the epoch). */
export interface HeldWait {
  status: number;
  body: ApiRequest;
  at: number;
}

export function waitOn(
  key: TestKey,
  id: string,
  seconds: number,
  overrides: Partial<Bindings> = {},
  signal?: AbortSignal,
): Promise<HeldWait> {
  return call(
    `${REQUESTS}/${id}?wait=${seconds}`,
    { headers: key.headers, ...(signal && { signal }) },
    overrides,
  ).then(async (res) => ({ status: res.status, body: (await res.json()) as ApiRequest, at: Date.now() }));
}

/** Settles with "settled" if `promise` settles within `ms`, else "pending" (it is not cancelled). */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<"settled" | "pending"> {
  return Promise.race([
    promise.then(
      () => "settled" as const,
      () => "settled" as const,
    ),
    sleep(ms).then(() => "pending" as const),
  ]);
}

export async function approve(approver: TestKey, id: string, overrides: Partial<Bindings> = {}) {
  const res = await postJson(`${REQUESTS}/${id}/approve`, { notes: "ok" }, approver.headers, overrides);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as ApiRequest;
}

/** Sets the tenant's approval policy for cost requests (escalation, required approvals, ...). */
export async function withPolicy(admin: TestKey, tenant: string, body: Record<string, unknown>) {
  const res = await postJson(
    "/api/v1/admin/policies/approval-levels",
    { policy_type: "cost", tenant_id: tenant, approval_level: "agent_approve", ...body },
    admin.headers,
  );
  expect(res.status, await res.clone().text()).toBe(201);
}

// ---------------------------------------------------------------------------------------------------
// The events stream over an emulated connection.

/**
 * Calls the worker and returns its answer as soon as the handler does: unlike call(), it does not
 * wait for the invocation's waitUntil work (a stream's release is handed there when it ends).
 */
export async function openStream(
  path: string,
  init: RequestInit = {},
  overrides: Partial<Bindings> = {},
): Promise<Response> {
  return worker.fetch(new Request(`${BASE_URL}${path}`, init), testEnv(overrides), createExecutionContext());
}

/** One connection a Network made: what the client sent, what the server answered, and how to cut it. */
export interface Link {
  lastEventId: string | null;
  status: number;
  /** Cuts the connection as a network failure does: the client reads `error`, the server loses its client. */
  drop(error: unknown): void;
}

export interface NetworkOptions {
  /** Sent on every connection (the API key): EventSource sends only Accept and Last-Event-ID. */
  headers?: Record<string, string>;
  overrides?: Partial<Bindings>;
  /** Runs before connection number `attempt` (0 first) reaches the worker: a slow network. */
  beforeConnect?: (attempt: number) => Promise<void>;
  /**
   * Whether the server's request signal aborts when the client goes (default true). A runtime may
   * only cancel the response body of a stream already answered; false tests that path alone.
   */
  requestSignal?: boolean;
}

/**
 * A `fetch` for EventSource that reaches the worker in this isolate, as a network would: each
 * connection's body is relayed, and when the client aborts (EventSource.close()) or the test drops
 * the link, the server sees its client gone (the request's signal aborts, the response body is
 * cancelled) and the client reads an error.
 */
export class Network {
  readonly links: Link[] = [];
  constructor(private readonly options: NetworkOptions = {}) {}

  readonly fetch: FetchLike = async (url, init) => {
    const attempt = this.links.length;
    const link: Link = {
      lastEventId: init.headers["Last-Event-ID"] ?? null,
      status: 0,
      drop: () => undefined,
    };
    this.links.push(link);
    await this.options.beforeConnect?.(attempt);
    const server = new AbortController();
    const response = await worker.fetch(
      new Request(url, { headers: { ...init.headers, ...this.options.headers }, signal: server.signal }),
      testEnv(this.options.overrides),
      createExecutionContext(),
    );
    link.status = response.status;
    const relayed = relay(response, (reason) => {
      if (this.options.requestSignal !== false) server.abort(reason);
    });
    link.drop = relayed.drop;
    const signal: unknown = init.signal;
    if (signal instanceof AbortSignal) {
      signal.addEventListener("abort", () => relayed.drop(new DOMException("aborted", "AbortError")), {
        once: true,
      });
    }
    return relayed.response;
  };
}

/** The server's response as the client receives it, and a way to cut the connection in between. */
function relay(
  response: Response,
  serverGone: (reason: unknown) => void,
): { response: Response; drop(error: unknown): void } {
  const body = response.body;
  if (!body) return { response, drop: serverGone };
  const reader = body.getReader();
  let open = true;
  let client: ReadableStreamDefaultController<Uint8Array> | undefined;
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      client = controller;
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (!open) return;
        if (done) {
          open = false;
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        if (open) {
          open = false;
          controller.error(error);
        }
      }
    },
    cancel(reason) {
      open = false;
      serverGone(reason);
      return reader.cancel(reason);
    },
  });
  return {
    response: new Response(readable, { status: response.status, headers: response.headers }),
    drop(error) {
      if (!open) return;
      open = false;
      serverGone(error);
      reader.cancel(error).catch(() => undefined);
      client?.error(error);
    },
  };
}

/** What an EventSource received: each message's id and parsed data, and the errors it reported. */
export interface Received {
  source: EventSource;
  events: { id: string; data: ApiRequest }[];
  errors: { code: number | undefined; message: string | undefined }[];
}

/** A real EventSource on the request's events stream, reached through `network`. */
export function listen(network: Network, id: string): Received {
  const source = new EventSource(`${BASE_URL}${REQUESTS}/${id}/events`, { fetch: network.fetch });
  const received: Received = { source, events: [], errors: [] };
  // Listeners, not onmessage/onerror: workerd's EventTarget also calls an `on<type>` property by
  // itself, so a handler set there would run twice for each event.
  source.addEventListener("message", (event) => {
    received.events.push({ id: event.lastEventId, data: JSON.parse(String(event.data)) as ApiRequest });
  });
  source.addEventListener("error", (event: ErrorEvent) => {
    received.errors.push({ code: event.code, message: event.message });
  });
  return received;
}
