// Issue 24: GET /api/v1/policy/requests/{id}/events, the Server-Sent Events stream, read by the real
// `eventsource` client (what an agent or a UI would run) over an emulated connection
// (test/helpers/waits.ts Network), and by hand where the raw bytes matter (heartbeats). Proves: the
// current state first with id = version, each change next, the end after a terminal status, 204 and
// EventSource closing on a reconnect after it, resume by Last-Event-ID after a dropped connection,
// heartbeats on a quiet stream, the error envelope before the stream (400, 401, 404, 429), and that a
// stream's lease is released as soon as it ends or its client leaves, however it leaves.
//
// WAIT_RECHECK_SECONDS is 55 throughout: a change that reaches the stream within seconds was pushed by
// the wait room, not found by the safety re-read.
import { describe, expect, it } from "vitest";
import type { Bindings } from "../src/env.ts";
import { testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey } from "./helpers/keys.ts";
import { fileRequest } from "./helpers/requests.ts";
import {
  type ApiRequest,
  approve,
  listen,
  Network,
  openLeases,
  openStream,
  REQUESTS,
  scene,
  sleep,
  uniqueTenant,
  until,
  untilLeases,
  versionOf,
  waitOn,
} from "./helpers/waits.ts";

const QUIET: Partial<Bindings> = { WAIT_RECHECK_SECONDS: "55" };
/** A change pushed by the room reaches the client well within this; the re-read would take 55 s. */
const WAKE_MS = 5000;

const eventsPath = (id: string) => `${REQUESTS}/${id}/events`;

/** The raw text of a stream, read as it arrives. */
class RawStream {
  text = "";
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private done = false;

  constructor(response: Response) {
    if (!response.body) throw new Error("no body");
    this.reader = response.body.getReader();
  }

  /** Reads until `check(text)` holds or the stream ends; fails after `timeoutMs`. */
  async readUntil(check: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this.text) && !this.done) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`stream did not show what was expected; read so far:\n${this.text}`);
      const next = await Promise.race([this.reader.read(), sleep(left).then(() => null)]);
      if (next === null) continue;
      if (next.done) this.done = true;
      else this.text += this.decoder.decode(next.value, { stream: true });
    }
    return this.text;
  }

  /** Reads to the end; fails if the stream is still open after `timeoutMs`. */
  async readToEnd(timeoutMs = 10_000): Promise<string> {
    await this.readUntil(() => false, timeoutMs).catch((error: unknown) => {
      if (!this.done) throw error;
    });
    if (!this.done) throw new Error(`stream still open; read so far:\n${this.text}`);
    return this.text;
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }

  /** The events (id and parsed data) read so far. */
  events(): { id: string | undefined; data: ApiRequest }[] {
    return this.text
      .split("\n\n")
      .map((block) => block.split("\n"))
      .filter((lines) => lines.some((line) => line.startsWith("data: ")))
      .map((lines) => ({
        id: lines.find((line) => line.startsWith("id: "))?.slice(4),
        data: JSON.parse(
          lines
            .filter((line) => line.startsWith("data: "))
            .map((line) => line.slice(6))
            .join("\n"),
        ) as ApiRequest,
      }));
  }
}

const countOf = (text: string, needle: string) => text.split(needle).length - 1;

describe("the events stream, read by EventSource", () => {
  it("sends the current state first with its version as id, then the approval, then ends; the reconnect gets 204 and EventSource closes", async () => {
    const { tenant, agent, approver, id } = await scene();
    const network = new Network({ headers: agent.headers, overrides: QUIET });
    const received = listen(network, id);
    try {
      await until("the first event", () => received.events.length === 1);
      const first = received.events[0];
      const version = await versionOf(id);
      expect(first?.id).toBe(String(version));
      // The data is the request exactly as GET answers it.
      const read = await call(`${REQUESTS}/${id}`, { headers: agent.headers });
      expect(first?.data).toEqual(await read.json());
      expect(first?.data.status).toBe("pending");
      await untilLeases(tenant, 1);

      const approved = await approve(approver, id);
      const decidedAt = Date.now();
      await until("the approval event", () => received.events.length === 2, WAKE_MS);
      expect(Date.now() - decidedAt).toBeLessThan(WAKE_MS);
      const second = received.events[1];
      expect(second?.id).toBe(String(version + 1));
      expect(second?.data).toEqual(approved);

      // The stream ended after the terminal state; EventSource reconnected (retry: 1000) with its id,
      // the server answered 204, and EventSource stopped for good.
      await until("EventSource closed", () => received.source.readyState === received.source.CLOSED);
      expect(network.links.map(({ lastEventId, status }) => ({ lastEventId, status }))).toEqual([
        { lastEventId: null, status: 200 },
        { lastEventId: String(version + 1), status: 204 },
      ]);
      expect(received.errors.at(-1)?.code).toBe(204);
      expect(received.events).toHaveLength(2);
      // The stream's lease was released when it ended.
      expect(await openLeases(tenant)).toBe(0);
    } finally {
      received.source.close();
    }
  });

  it("resumes after a dropped connection: EventSource reconnects with Last-Event-ID and receives only the newer state", async () => {
    const { tenant, agent, approver, id } = await scene();
    let approved: () => void = () => undefined;
    const decided = new Promise<void>((resolve) => {
      approved = resolve;
    });
    // The reconnection reaches the server only once the approval is in: the change happens while the
    // client is away.
    const network = new Network({
      headers: agent.headers,
      overrides: QUIET,
      beforeConnect: (attempt) => (attempt === 1 ? decided : Promise.resolve()),
    });
    const received = listen(network, id);
    try {
      await until("the first event", () => received.events.length === 1);
      await untilLeases(tenant, 1);
      network.links[0]?.drop(new TypeError("network connection lost"));
      // The server saw its client go: the stream ended and released its lease.
      await untilLeases(tenant, 0, 3000);

      await approve(approver, id);
      approved();
      await until("the approval after the reconnect", () => received.events.length === 2);
      const version = await versionOf(id);
      expect(received.events.map((event) => [event.id, event.data.status])).toEqual([
        [String(version - 1), "pending"],
        [String(version), "approved"],
      ]);
      await until("EventSource closed", () => received.source.readyState === received.source.CLOSED);
      expect(network.links.map(({ lastEventId, status }) => ({ lastEventId, status }))).toEqual([
        { lastEventId: null, status: 200 },
        { lastEventId: String(version - 1), status: 200 },
        { lastEventId: String(version), status: 204 },
      ]);
    } finally {
      received.source.close();
    }
  });

  it("with Last-Event-ID at the current version sends nothing until the next change", async () => {
    const { agent, approver, id } = await scene();
    const version = await versionOf(id);
    const stream = new RawStream(
      await openStream(
        eventsPath(id),
        { headers: { ...agent.headers, "Last-Event-ID": String(version) } },
        { ...QUIET, EVENTS_HEARTBEAT_SECONDS: "1" },
      ),
    );
    // A heartbeat shows the stream is open; no state has been sent.
    await stream.readUntil((text) => text.includes(": heartbeat"));
    expect(stream.events()).toEqual([]);
    await approve(approver, id);
    await stream.readToEnd(WAKE_MS);
    expect(stream.events().map((event) => [event.id, event.data.status])).toEqual([
      [String(version + 1), "approved"],
    ]);
  });

  it("a decided request's stream sends its state and ends at once, holding no lease", async () => {
    const { tenant, agent, approver, id } = await scene();
    await approve(approver, id);
    const stream = new RawStream(await openStream(eventsPath(id), { headers: agent.headers }));
    const text = await stream.readToEnd(3000);
    expect(text.startsWith("retry: 1000\n\n")).toBe(true);
    expect(stream.events().map((event) => [event.id, event.data.status])).toEqual([
      [String(await versionOf(id)), "approved"],
    ]);
    expect(await openLeases(tenant)).toBe(0);
  });

  it("ends with the expired state when the request expires while streamed (no cron needed)", async () => {
    const { agent, id } = await scene();
    await testSql()`UPDATE approval_requests SET expires_at = now() + interval '2 seconds' WHERE id = ${id}`;
    const stream = new RawStream(await openStream(eventsPath(id), { headers: agent.headers }, QUIET));
    await stream.readToEnd(8000);
    expect(stream.events().map((event) => event.data.status)).toEqual(["pending", "expired"]);
  });
});

describe("heartbeats", () => {
  it("sends ': heartbeat' comments on a quiet stream every EVENTS_HEARTBEAT_SECONDS", async () => {
    const { tenant, agent, id } = await scene();
    const res = await openStream(
      eventsPath(id),
      { headers: agent.headers },
      { ...QUIET, EVENTS_HEARTBEAT_SECONDS: "1" },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("Cache-Control")).toContain("no-cache");
    const stream = new RawStream(res);
    const started = Date.now();
    const text = await stream.readUntil((seen) => countOf(seen, ": heartbeat\n\n") >= 2, 8000);
    // Two heartbeats about a second apart, after the reconnection hint and the current state.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(text.startsWith("retry: 1000\n\n")).toBe(true);
    expect(text.indexOf("id: ")).toBeLessThan(text.indexOf(": heartbeat"));
    expect(stream.events()).toHaveLength(1);
    await stream.cancel();
    await untilLeases(tenant, 0, 3000);
  });
});

describe("before the stream starts: the error envelope", () => {
  it("refuses an invalid Last-Event-ID with 400 validation_failed", async () => {
    const { agent, id } = await scene();
    for (const lastEventId of ["abc", "-1", "1.5", "1e3", "1234567890123456", " "]) {
      const res = await openStream(eventsPath(id), {
        headers: { ...agent.headers, "Last-Event-ID": lastEventId },
      });
      expect(res.status, lastEventId).toBe(400);
      const body = (await res.json()) as ErrorEnvelope;
      expect(body.error).toMatchObject({
        code: "validation_failed",
        message: "Invalid request header",
        details: { target: "header", issues: [{ path: "last-event-id" }] },
      });
    }
  });

  it("answers 401 without an API key", async () => {
    const { id } = await scene();
    const res = await openStream(eventsPath(id));
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe("unauthorized");
  });

  it("answers 404 for another tenant's request, as GET and ?wait do", async () => {
    const { id } = await scene();
    const outsider = await createTestKey("agent", { tenantId: uniqueTenant() });
    const stream = await openStream(eventsPath(id), { headers: outsider.headers });
    expect(stream.status).toBe(404);
    const envelope = (await stream.json()) as ErrorEnvelope;
    expect(envelope.error.code).toBe("not_found");
    const waited = await call(`${REQUESTS}/${id}?wait=5`, { headers: outsider.headers }, QUIET);
    expect(waited.status).toBe(404);
    expect(((await waited.json()) as ErrorEnvelope).error.message).toBe(envelope.error.message);
    const read = await call(`${REQUESTS}/${id}`, { headers: outsider.headers });
    expect(read.status).toBe(404);
  });
});

describe("the stream's bounds", () => {
  const ONE: Partial<Bindings> = { ...QUIET, OPEN_WAITS_PER_KEY: "1" };

  it("an open stream takes the key's one slot: a second stream and a ?wait are refused with 429 and Retry-After; the slot is free again when the stream ends", async () => {
    const { tenant, agent, approver, id } = await scene();
    const other = await fileRequest(agent, { tenant_id: tenant });
    const stream = new RawStream(await openStream(eventsPath(id), { headers: agent.headers }, ONE));
    await stream.readUntil((text) => text.includes("data: "));
    await untilLeases(tenant, 1);

    for (const refused of [
      await openStream(eventsPath(other), { headers: agent.headers }, ONE),
      await call(`${REQUESTS}/${other}?wait=5`, { headers: agent.headers }, ONE),
    ]) {
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
      const body = (await refused.json()) as ErrorEnvelope;
      expect(body.error.code).toBe("rate_limited");
      expect(body.error.details).toMatchObject({ limiter: "open_waits_per_key", limit: 1 });
    }

    // Terminal: the stream ends and frees its slot.
    await approve(approver, id);
    await stream.readToEnd(WAKE_MS);
    await untilLeases(tenant, 0, 3000);
    const next = new RawStream(await openStream(eventsPath(other), { headers: agent.headers }, ONE));
    await next.readUntil((text) => text.includes("data: "));
    await next.cancel();
  });
});

describe("a stream whose client leaves stops and releases its slot at once", () => {
  const ONE: Partial<Bindings> = { ...QUIET, OPEN_WAITS_PER_KEY: "1" };

  /** Opens a stream with `prepare`, lets its client leave with `leave`, then checks the slot is free. */
  async function leaves(
    prepare: (id: string, agent: { headers: Record<string, string> }) => Promise<() => Promise<void>>,
    heldMeanwhile = 1,
  ) {
    const { tenant, agent, id } = await scene();
    const leave = await prepare(id, agent);
    await untilLeases(tenant, heldMeanwhile);
    const started = Date.now();
    await leave();
    await untilLeases(tenant, 0, 3000);
    expect(Date.now() - started).toBeLessThan(3000);
    // The key's one slot takes a new wait at once.
    const again = await waitOn(agent, id, 1, ONE);
    expect(again.status).toBe(200);
  }

  it("after the first event (the fetch aborted)", async () => {
    await leaves(async (id, agent) => {
      const gone = new AbortController();
      const stream = new RawStream(
        await openStream(eventsPath(id), { headers: agent.headers, signal: gone.signal }, ONE),
      );
      await stream.readUntil((text) => text.includes("data: "));
      return async () => {
        gone.abort();
        await stream.cancel();
      };
    });
  });

  it("before reading anything (the fetch aborted)", async () => {
    await leaves(async (id, agent) => {
      const gone = new AbortController();
      const res = await openStream(eventsPath(id), { headers: agent.headers, signal: gone.signal }, ONE);
      return async () => {
        gone.abort();
        await res.body?.cancel();
      };
    });
  });

  it("when it resumed at the current version and nothing was sent yet (the fetch aborted)", async () => {
    await leaves(async (id, agent) => {
      const gone = new AbortController();
      const res = await openStream(
        eventsPath(id),
        { headers: { ...agent.headers, "Last-Event-ID": String(await versionOf(id)) }, signal: gone.signal },
        ONE,
      );
      return async () => {
        gone.abort();
        await res.body?.cancel();
      };
    });
  });

  it("when only the request's signal fires and the answer is dropped unread (the client left before it came)", async () => {
    await leaves(async (id, agent) => {
      const gone = new AbortController();
      await openStream(eventsPath(id), { headers: agent.headers, signal: gone.signal }, ONE);
      return async () => gone.abort();
    });
  });

  it("when only the response body is cancelled (the request's signal never fires)", async () => {
    await leaves(async (id, agent) => {
      const stream = new RawStream(await openStream(eventsPath(id), { headers: agent.headers }, ONE));
      await stream.readUntil((text) => text.includes("data: "));
      return () => stream.cancel();
    });
  });

  it("when only the response body is cancelled before anything was read, resumed at the current version", async () => {
    await leaves(async (id, agent) => {
      const res = await openStream(
        eventsPath(id),
        { headers: { ...agent.headers, "Last-Event-ID": String(await versionOf(id)) } },
        ONE,
      );
      return async () => res.body?.cancel();
    });
  });

  it("a HEAD request, whose answer never has a body", async () => {
    await leaves(async (id, agent) => {
      const res = await openStream(eventsPath(id), { method: "HEAD", headers: agent.headers }, ONE);
      expect(res.status).toBe(200);
      expect(res.headers.get("Content-Type")).toBe("text/event-stream; charset=utf-8");
      expect(res.body).toBeNull();
      return async () => undefined;
    }, 0);
  });

  it("when EventSource closes", async () => {
    await leaves(async (id, agent) => {
      const received = listen(new Network({ headers: agent.headers, overrides: ONE }), id);
      await until("the first event", () => received.events.length === 1);
      return async () => received.source.close();
    });
  });
});

describe("the stream and the other waits agree", () => {
  it("a ?wait and a stream on one request both wake at the approval", async () => {
    const { tenant, agent, approver, id } = await scene();
    const received = listen(new Network({ headers: agent.headers, overrides: QUIET }), id);
    try {
      const held = waitOn(agent, id, 30, QUIET);
      await untilLeases(tenant, 2);
      await approve(approver, id);
      const decidedAt = Date.now();
      const answer = await held;
      expect(answer.body.status).toBe("approved");
      expect(answer.at - decidedAt).toBeLessThan(WAKE_MS);
      await until("the approval event", () => received.events.length === 2, WAKE_MS);
      expect(received.events[1]?.data.status).toBe("approved");
    } finally {
      received.source.close();
    }
  });
});
