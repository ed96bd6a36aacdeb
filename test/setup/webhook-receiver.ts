// A real HTTP webhook receiver for the tests (started by global-setup.ts, on loopback only): the
// worker's queue consumer, running inside workerd, POSTs to it over http://127.0.0.1 exactly as it
// would to a customer's endpoint, and the tests read back what arrived.
//
// How it answers is chosen by the path, POST /hooks/<scenario>/<name> (the name keeps tests apart;
// counters are per path):
//   ok                200
//   fail-then-ok-<n>  500 to the first n requests to the path, then 200
//   always-500        500
//   429               429 with Retry-After: 120
//   404               404 (a permanent refusal)
//   410               410 (a push service: this subscription is gone)
//   redirect          302 to /hooks/ok/<name> (a sender must not follow it)
//   slow-<ms>         waits <ms> milliseconds (at most 5 s), then 200
//   drop              closes the connection without answering (a network error)
// and the hostile ones, which hold the connection until the client goes away (or the receiver closes):
//   hang              reads the request, never answers, never closes
//   trickle-headers   sends the status line, then one header line every 100 ms, never ending the headers
//   endless           200, then 1 KiB of body every 2 ms, forever
//   endless-<status>  the same with that status (endless-500: a retryable error with an endless page)
//   trickle-body      200, then 8 bytes of body every 100 ms, forever
//   huge-body         200 with a 50 MB body (Content-Length), streamed as fast as the client reads
//   redirect-private  302 to http://169.254.169.254/latest/meta-data/ (the cloud metadata address)
// Anything else answers 400. Every request to /hooks/ is recorded (method, path, headers, raw body,
// time, the status it got, and for the hostile ones the body bytes written and when the client hung
// up): GET /_received?path=<path> returns those of one path, oldest first, and POST /_reset forgets
// everything. close() destroys every open connection and stops every stream, so teardown never waits.
//
// Under /slack/ it is a stand-in for Slack's Web API and response_urls (scripts/lib/fake-slack.ts).
//
// It also serves a stand-in DNS-over-HTTPS resolver (the JSON API the worker's send-time address check
// calls when WEBHOOK_DNS_RESOLVER points here): GET /dns-query?name=<host>&type=A|AAAA answers
// 127.0.0.1 / ::1 for names starting "loopback.", SERVFAIL for names starting "servfail.", NXDOMAIN for
// anything else. It never answers a public address, so no delivery in a test can leave the machine.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createFakeSlack } from "../../scripts/lib/fake-slack.ts";

export interface ReceivedRequest {
  method: string;
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The raw body, as received (UTF-8). */
  body: string;
  /** Epoch milliseconds when the request ended. */
  at: number;
  /** What the receiver answered (0: it dropped the connection, or never finished the headers). */
  status: number;
  /** Body bytes written to the socket (the hostile scenarios count them; 0 for the others). */
  sent: number;
  /** Epoch milliseconds when the client went away from a hostile scenario; null while it holds on. */
  closedAt: number | null;
}

export interface RunningReceiver {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_SLOW_MS = 5000;
const HUGE_BODY_BYTES = 50 * 1024 * 1024;
const PRIVATE_REDIRECT = "http://169.254.169.254/latest/meta-data/";

export async function startWebhookReceiver(options: { host?: string; port?: number } = {}) {
  const host = options.host ?? "127.0.0.1";
  const received: ReceivedRequest[] = [];
  const hits = new Map<string, number>();
  // Slack's Web API and response_urls, under /slack/ (scripts/lib/fake-slack.ts).
  const slack = createFakeSlack();
  /** Stops the timers of the streams still running (close() calls them all). */
  const stoppers = new Set<() => void>();

  const json = (res: http.ServerResponse, status: number, value: unknown) =>
    res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(value));

  /** The answer for one delivery: status, headers, body; "drop" closes the connection instead. */
  async function answer(
    scenario: string,
    name: string,
    count: number,
  ): Promise<[number, Record<string, string>, string] | "drop"> {
    const failThenOk = /^fail-then-ok-(\d+)$/.exec(scenario);
    if (failThenOk) return count <= Number(failThenOk[1]) ? [500, {}, "failing on purpose"] : [200, {}, "ok"];
    const slow = /^slow-(\d+)$/.exec(scenario);
    if (slow) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(MAX_SLOW_MS, Number(slow[1]))));
      return [200, {}, "ok, slowly"];
    }
    switch (scenario) {
      case "ok":
        return [200, {}, "ok"];
      case "always-500":
        return [500, {}, "down on purpose"];
      case "429":
        return [429, { "Retry-After": "120" }, "slow down"];
      case "404":
        return [404, {}, "no such hook"];
      case "410":
        return [410, {}, "push subscription gone"];
      case "redirect":
        return [302, { Location: `/hooks/ok/${name}` }, ""];
      case "redirect-private":
        return [302, { Location: PRIVATE_REDIRECT }, "moved to the metadata service"];
      case "drop":
        return "drop";
      default:
        return [400, {}, `unknown scenario ${scenario}`];
    }
  }

  /**
   * The hostile scenarios: they keep the connection (and a timer) until the client hangs up, which
   * is recorded on the entry. Returns false for any other scenario.
   */
  function hostile(
    scenario: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    entry: ReceivedRequest,
  ): boolean {
    const socket = req.socket;
    const hold = (stop: () => void) => {
      const end = () => {
        stop();
        stoppers.delete(end);
        entry.closedAt ??= Date.now();
      };
      stoppers.add(end);
      socket.once("close", end);
    };
    const every = (ms: number, tick: () => void) => {
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        tick();
      }, ms);
      hold(() => clearInterval(timer));
    };
    const endless = /^endless(?:-(\d{3}))?$/.exec(scenario);
    if (endless) {
      entry.status = Number(endless[1] ?? 200);
      res.writeHead(entry.status, { "Content-Type": "text/plain" });
      const chunk = "x".repeat(1023).concat("\n");
      every(2, () => {
        res.write(chunk);
        entry.sent += chunk.length;
      });
      return true;
    }
    switch (scenario) {
      case "hang":
        hold(() => {});
        return true;
      case "trickle-headers": {
        // Written raw: Node's response would send the headers in one piece.
        socket.write("HTTP/1.1 200 OK\r\n");
        let line = 0;
        every(100, () => {
          line += 1;
          socket.write(`X-Trickle-${line}: still going\r\n`);
        });
        return true;
      }
      case "trickle-body":
        entry.status = 200;
        res.writeHead(200, { "Content-Type": "text/plain" });
        every(100, () => {
          res.write("trickle\n");
          entry.sent += 8;
        });
        return true;
      case "huge-body": {
        entry.status = 200;
        res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": String(HUGE_BODY_BYTES) });
        const chunk = Buffer.alloc(64 * 1024, "h");
        let stopped = false;
        hold(() => {
          stopped = true;
        });
        // As fast as the client takes it (backpressure), never buffering more than a chunk ahead.
        const pump = () => {
          while (!stopped && entry.sent < HUGE_BODY_BYTES) {
            const size = Math.min(chunk.length, HUGE_BODY_BYTES - entry.sent);
            entry.sent += size;
            if (!res.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
              res.once("drain", pump);
              return;
            }
          }
          if (!stopped) res.end();
        };
        pump();
        return true;
      }
      default:
        return false;
    }
  }

  function dnsAnswer(url: URL): { Status: number; Answer?: { name: string; type: number; data: string }[] } {
    const name = url.searchParams.get("name") ?? "";
    const type = url.searchParams.get("type") === "AAAA" ? 28 : 1;
    if (name.startsWith("servfail.")) return { Status: 2 };
    if (name.startsWith("loopback."))
      return { Status: 0, Answer: [{ name, type, data: type === 1 ? "127.0.0.1" : "::1" }] };
    return { Status: 3 };
  }

  let analyticsRows: unknown[] = [];
  let lastAnalyticsQuery: Record<string, unknown> | undefined;
  /** Data points written through /_ae-write, by dataset: what the SQL stand-in sums when asked. */
  const analyticsPoints = new Map<string, AnalyticsPoint[]>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://receiver");
      const path = url.pathname;
      if (slack.handle(req, res, url, Buffer.concat(chunks).toString("utf8"))) return;
      if (req.method === "GET" && path === "/_received") {
        const wanted = url.searchParams.get("path");
        return json(
          res,
          200,
          received.filter((entry) => wanted === null || entry.path === wanted),
        );
      }
      if (req.method === "POST" && path === "/_reset") {
        received.length = 0;
        hits.clear();
        return json(res, 200, { reset: true });
      }
      if (req.method === "GET" && path === "/dns-query") return json(res, 200, dnsAnswer(url));
      // A stand-in for Cloudflare's Analytics Engine SQL API (the /metrics counters): POST
      // /_ae-data sets the rows it answers; the last query and its Authorization are recorded.
      if (req.method === "POST" && path === "/_ae-data") {
        analyticsRows = JSON.parse(Buffer.concat(chunks).toString("utf8") || "[]") as unknown[];
        return json(res, 200, { rows: analyticsRows.length });
      }
      // /_ae-write?dataset=NAME appends data points as the worker wrote them ({timestamp, blobs,
      // doubles}); a query on that dataset then sums them as Analytics Engine would.
      if (req.method === "POST" && path === "/_ae-write") {
        const dataset = url.searchParams.get("dataset") ?? "";
        const points = JSON.parse(Buffer.concat(chunks).toString("utf8") || "[]") as AnalyticsPoint[];
        analyticsPoints.set(dataset, [...(analyticsPoints.get(dataset) ?? []), ...points]);
        return json(res, 200, { points: analyticsPoints.get(dataset)?.length ?? 0 });
      }
      if (req.method === "GET" && path === "/_ae-last") return json(res, 200, lastAnalyticsQuery ?? {});
      if (req.method === "POST" && /^\/client\/v4\/accounts\/[^/]+\/analytics_engine\/sql$/.test(path)) {
        lastAnalyticsQuery = {
          path,
          authorization: req.headers.authorization ?? null,
          sql: Buffer.concat(chunks).toString("utf8"),
        };
        if (req.headers.authorization !== "Bearer test-analytics-token")
          return json(res, 401, { errors: ["bad token"] });
        const sql = String(lastAnalyticsQuery.sql);
        const dataset = /\bFROM (\w+)/.exec(sql)?.[1] ?? "";
        const points = analyticsPoints.get(dataset);
        try {
          const data = points ? sumCounters(points, sql) : analyticsRows;
          return json(res, 200, { meta: [], data, rows: data.length });
        } catch (error) {
          return json(res, 422, { errors: [String(error)] });
        }
      }
      const hook = /^\/hooks\/([^/]+)\/([^/]+)$/.exec(path);
      if (!hook) return json(res, 404, { error: "not a hook path" });

      const count = (hits.get(path) ?? 0) + 1;
      hits.set(path, count);
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(req.headers))
        if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
      const entry: ReceivedRequest = {
        method: req.method ?? "",
        path,
        headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
        status: 0,
        sent: 0,
        closedAt: null,
      };
      received.push(entry);
      if (hostile(hook[1] ?? "", req, res, entry)) return;
      void answer(hook[1] ?? "", hook[2] ?? "", count).then((result) => {
        if (result === "drop") {
          req.socket.destroy();
          return;
        }
        const [status, extra, text] = result;
        entry.status = status;
        res.writeHead(status, { "Content-Type": "text/plain", ...extra }).end(text);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const stop of [...stoppers]) stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } satisfies RunningReceiver;
}

/** A data point as the worker wrote it to Analytics Engine, with the time it was written. */
export interface AnalyticsPoint {
  timestamp: number;
  blobs?: string[];
  doubles?: number[];
}

/**
 * The one query shape /metrics sends (src/services/metrics.ts countersQuery): the sum of double1 per
 * metric (blob1) and labels (blob2), from the `timestamp >= toDateTime('…')` bound on. Any other
 * shape is refused, so a change to the query shows here first.
 */
function sumCounters(
  points: AnalyticsPoint[],
  sql: string,
): { metric: string; labels: string; value: number }[] {
  const shape =
    /^SELECT blob1 AS metric, blob2 AS labels, SUM\(_sample_interval \* double1\) AS value FROM \w+ WHERE timestamp >= toDateTime\('(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)'\) GROUP BY metric, labels FORMAT JSON$/.exec(
      sql,
    );
  if (!shape?.[1]) throw new Error(`the Analytics Engine stand-in does not know this query: ${sql}`);
  const from = Date.parse(`${shape[1].replace(" ", "T")}Z`);
  const sums = new Map<string, { metric: string; labels: string; value: number }>();
  for (const point of points) {
    if (point.timestamp < from) continue;
    const metric = point.blobs?.[0] ?? "";
    const labels = point.blobs?.[1] ?? "";
    const key = `${metric}{${labels}}`;
    const entry = sums.get(key) ?? { metric, labels, value: 0 };
    entry.value += point.doubles?.[0] ?? 0;
    sums.set(key, entry);
  }
  return [...sums.values()];
}
