import { StringDecoder } from 'node:string_decoder';
import type { SseEvent } from '../providers/types.ts';

export type { SseEvent };

/**
 * Server-sent events, framing only (meaning is per provider).
 * Reader: WHATWG "event stream interpretation" — lines end in CRLF, LF or CR (a CR at the end of
 * one chunk followed by LF at the start of the next is ONE line break); `:` lines are comments;
 * `data:` lines accumulate with "\n"; a blank line dispatches; an event with no data is dropped.
 * Unknown fields (and `retry:`) are ignored. The UTF-8 decoder is streaming, so a multi-byte
 * character split across chunks decodes correctly; a leading byte order mark is dropped and
 * invalid bytes become U+FFFD, as WHATWG's UTF-8 decode does.
 *
 * The decoder is node's StringDecoder, not a TextDecoder: one reader per upstream stream is made on
 * the way to its first byte, and constructing a TextDecoder costs ≈ 10 µs (it opens an ICU
 * converter), a StringDecoder ≈ 2 µs. They decode alike, split anywhere, invalid bytes included
 * (test/providers/sse.test.ts).
 */
export class SseReader {
  private readonly decoder = new StringDecoder('utf8');
  /** No decoded text yet: a byte order mark at its start is dropped. */
  private atStart = true;
  private buf = '';
  /** The previous chunk ended with CR: a leading LF in the next chunk belongs to that break. */
  private skipLf = false;
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  /** True while the current event has at least one complete field line. */
  private pending = false;

  feed(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoded(this.decoder.write(chunk));
    if (text.length === 0) return [];
    let s = this.buf.length > 0 ? this.buf + text : text;
    let start = 0;
    if (this.skipLf) {
      this.skipLf = false;
      if (s.charCodeAt(0) === 10) start = 1;
    }
    const out: SseEvent[] = [];
    const n = s.length;
    // Line breaks found with indexOf (native): a charCodeAt loop over every character took 205 k
    // instructions per 20-chunk stream, this 12 k (bench/README.md, "Instructions per stream"). Each
    // is looked for again only once the line before it is taken, so no character is scanned twice
    // for the same one.
    let cr = s.indexOf('\r', start);
    let lf = s.indexOf('\n', start);
    for (;;) {
      if (cr !== -1 && cr < start) cr = s.indexOf('\r', start);
      if (lf !== -1 && lf < start) lf = s.indexOf('\n', start);
      const brk = cr === -1 ? lf : lf === -1 || cr < lf ? cr : lf;
      if (brk === -1) break;
      this.line(s, start, brk, out);
      start = brk + 1;
      if (brk === cr) {
        // CR LF is one break; a CR that ends the text may be the first half of one.
        if (start === n) this.skipLf = true;
        else if (s.charCodeAt(start) === 10) start++;
      }
    }
    this.buf = start < n ? s.slice(start) : '';
    s = '';
    return out;
  }

  /**
   * The body ended. Dispatches an event whose field lines were all complete but that lacked the
   * closing blank line (lenient: some servers omit it at EOF). A partial, unterminated last line
   * means the body was truncated mid-line; it is dropped, as the WHATWG algorithm does.
   */
  flush(): SseEvent[] {
    const tail = this.decoded(this.decoder.end());
    if (tail.length > 0) this.buf += tail;
    const out: SseEvent[] = [];
    if (this.buf.length === 0 && this.pending) this.dispatch(out);
    this.reset();
    return out;
  }

  /** Decoded text, without the stream's leading byte order mark. */
  private decoded(text: string): string {
    if (!this.atStart || text.length === 0) return text;
    this.atStart = false;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  private reset(): void {
    this.atStart = true;
    this.buf = '';
    this.skipLf = false;
    this.data = [];
    this.event = undefined;
    this.id = undefined;
    this.pending = false;
  }

  private line(s: string, from: number, to: number, out: SseEvent[]): void {
    if (from === to) {
      this.dispatch(out);
      return;
    }
    if (s.charCodeAt(from) === 58 /* : */) return;
    // The colon within this line only: indexOf would scan on past a line without one, to the next
    // colon anywhere after it — quadratic in a chunk of many such lines.
    let colon = -1;
    for (let k = from; k < to; k++) {
      if (s.charCodeAt(k) === 58) {
        colon = k;
        break;
      }
    }
    let field: string;
    let value: string;
    if (colon === -1) {
      field = s.slice(from, to);
      value = '';
    } else {
      field = s.slice(from, colon);
      let v = colon + 1;
      if (v < to && s.charCodeAt(v) === 32) v++;
      value = s.slice(v, to);
    }
    this.pending = true;
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        break;
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length > 0) {
      const ev: SseEvent = { data: this.data.length === 1 ? this.data[0] : this.data.join('\n') };
      if (this.event !== undefined && this.event !== '') ev.event = this.event;
      if (this.id !== undefined) ev.id = this.id;
      out.push(ev);
    }
    this.data = [];
    this.event = undefined;
    this.pending = false;
    // `id` persists across events per the spec (last event id); we report it only where sent.
    this.id = undefined;
  }
}

/** Parses a byte stream (e.g. an upstream body) into SSE events, including the flushed tail. */
export async function* readSse(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  const reader = new SseReader();
  for await (const chunk of body) {
    const events = reader.feed(chunk);
    for (const ev of events) yield ev;
  }
  for (const ev of reader.flush()) yield ev;
}

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * One SSE frame: `event: <name>\n` (when given), one `data:` line per line of `data`, blank line.
 * Event names with CR or LF would let a value inject frames, so they are rejected.
 */
export function sseFrame(event: string | undefined, data: string): string {
  let head = '';
  if (event !== undefined) {
    if (event.includes('\n') || event.includes('\r')) throw new Error('SSE event name must not contain CR or LF');
    head = `event: ${event}\n`;
  }
  if (!data.includes('\n') && !data.includes('\r')) return `${head}data: ${data}\n\n`;
  const lines = data.split(LINE_BREAK);
  let body = '';
  for (const l of lines) body += `data: ${l}\n`;
  return `${head}${body}\n`;
}

/** A comment frame (keeps intermediaries from timing out an idle stream). */
export function sseComment(text = ''): string {
  if (text.includes('\n') || text.includes('\r')) throw new Error('SSE comment must not contain CR or LF');
  return `: ${text}\n\n`;
}
