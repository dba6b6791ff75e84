/**
 * Server-Sent Events read over fetch, so the stream carries the API key like every other call
 * (EventSource cannot send headers). Parses the `event:` / `data:` fields of the SSE format
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream);
 * comment lines such as the oracle's `: ping` heartbeats are ignored.
 */

/** One dispatched event: its type (`message` when the server named none) and its data. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Incremental parser: feed it text as it arrives, in chunks split anywhere; returns the events
 * completed by that chunk (an event ends at a blank line).
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  /** Adds `chunk`; returns the events it completed, in order. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let newline = this.buffer.search(/\r\n|\r|\n/);
    while (newline !== -1) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith('\r\n', newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + width);
      const done = this.line(line);
      if (done) out.push(done);
      newline = this.buffer.search(/\r\n|\r|\n/);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const done = { event: this.event || 'message', data: this.data.join('\n') };
      this.event = '';
      this.data = [];
      return done;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    return null;
  }
}

/**
 * Reads `res.body` as an event stream, calling `onEvent` for each event, until the stream ends
 * or `onEvent` returns true (the caller has seen its last event). Rejects when the body breaks
 * (including an abort of the fetch's signal).
 */
export async function readEventStream(
  res: Response,
  onEvent: (event: SseEvent) => boolean | void
): Promise<void> {
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const event of parser.push(value)) if (onEvent(event) === true) return;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
