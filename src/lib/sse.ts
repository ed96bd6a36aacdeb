// Server-Sent Events (text/event-stream, the WHATWG HTML "server-sent events" format): a stream of
// events from an async source, with a reconnection hint first and heartbeat comments between events so
// proxies and clients can tell a quiet stream from a dead one. Generic: the events route
// (src/routes/requests.ts) supplies the events.

export interface ServerSentEvent {
  /** The event's id: a client that reconnects sends the last one it got as Last-Event-ID. */
  id?: string;
  /** The event type; absent means "message" (EventSource's onmessage). */
  event?: string;
  data: string;
}

export const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-store",
  // Tells buffering proxies (nginx and the like) to pass each event on at once.
  "X-Accel-Buffering": "no",
} as const;

/** One event in the wire format: a field per line; data split on line breaks so none can end it early. */
export function formatEvent(event: ServerSentEvent): string {
  const lines: string[] = [];
  if (event.id !== undefined) lines.push(`id: ${singleLine(event.id)}`);
  if (event.event !== undefined) lines.push(`event: ${singleLine(event.event)}`);
  for (const line of event.data.split(/\r\n|\r|\n/)) lines.push(`data: ${line}`);
  return `${lines.join("\n")}\n\n`;
}

function singleLine(value: string): string {
  return value.replace(/[\r\n\0]/g, "");
}

export interface StreamOptions {
  events: AsyncIterable<ServerSentEvent>;
  /** Milliseconds between heartbeat comments. */
  heartbeatMs: number;
  /** The reconnection delay the client is asked to use (the `retry` field), in milliseconds. */
  retryMs: number;
  /** Runs once when the stream ends, however it ends (the source is done, failed, or the client left). */
  onEnd(error: unknown): Promise<void>;
  /**
   * Runs once, as soon as the client is seen to have gone (it cancelled the body: its connection
   * closed), even while the source is still waiting for its next event: stop the source there, or it
   * holds what it holds until that event comes.
   */
  onGone(): void;
}

/**
 * A text/event-stream body fed by `options.events`; it ends when they do. The runtime keeps the
 * invocation alive while the response body streams, so the pump needs no waitUntil.
 */
export function eventStream(options: StreamOptions): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  let gone = false;
  const leave = () => {
    if (gone) return;
    gone = true;
    options.onGone();
  };
  // A cancelled readable side (the client left) errors the writable side at once, whether or not a
  // write is pending; a normal end closes it instead.
  writer.closed.catch(leave);
  const write = async (text: string) => {
    if (gone) return;
    // A write fails once the client has gone: stop writing then.
    await writer.write(encoder.encode(text)).catch(leave);
  };
  const heartbeat = setInterval(() => void write(": heartbeat\n\n"), options.heartbeatMs);
  void (async () => {
    let failure: unknown = null;
    try {
      await write(`retry: ${options.retryMs}\n\n`);
      for await (const event of options.events) {
        await write(formatEvent(event));
        if (gone) break;
      }
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(heartbeat);
      await options.onEnd(failure);
      if (!gone) await writer.close().catch(() => undefined);
    }
  })();
  return readable;
}
