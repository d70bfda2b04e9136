/**
 * The text chunks of one stream differ only in their text. OpenAI writes every Chat Completions
 * chunk of a stream with the same id, created, model and fingerprint, in the same key order;
 * Anthropic every `content_block_delta` of a block alike (`{"type":…,"index":…,"delta":{…,"text":…}}`).
 * A ContentTemplate learns that shape from a chunk the full parse read as exactly one text delta:
 * the bytes before its text (`prefix`, ending just inside the text's opening quote) and after it
 * (`suffix`, from its closing quote), kept only if the whole parse of `prefix + PROBE + suffix`
 * reads PROBE as its one delta: the place is the field the parse takes the text from. A later chunk
 * that is `prefix + raw + suffix`, where `raw` is a valid JSON string body, is the same object with
 * another value in that field — JSON's grammar gives it no other reading, as `raw` cannot close the
 * string early — so its text is read from `raw` alone instead of parsing the whole chunk; a last
 * `obfuscation` field (OpenAI's, OBF) may hold another value too. Anything else (another id or
 * block, a finish reason, a usage chunk, spaces in other places) does not match and is parsed
 * whole, as before.
 *
 * Pure per stream: one template per stream parser, never shared between streams.
 */


/**
 * A JSON string body holding none of these is its own value: nothing to unescape, nothing invalid.
 * A quote, a backslash, or a control character (below U+0020: every UTF-16 unit not in 20–FFFF).
 */
const NEEDS_DECODE = /["\\]|[^\u0020-\uffff]/;

/** The value of a JSON string body (the text between its quotes); undefined when it is not a valid one. */
function decodeBody(raw: string): string | undefined {
  if (!NEEDS_DECODE.test(raw)) return raw;
  try {
    // An unescaped quote ends the string early, and what follows is a syntax error: invalid.
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

/** Index of the quote that closes the JSON string whose body starts at `from`, or -1. */
function closingQuote(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i++; // backslash: the next character is escaped
    else if (c === 0x22) return i;
  }
  return -1;
}

/** The text a learned template's slot is tried with: the parse of the probe chunk must read exactly it. */
const PROBE = 'kaixu-template-probe';
/** Tries to learn per stream: a stream whose chunks never share a shape stops trying. */
const MAX_TRIES = 3;
/**
 * OpenAI's stream obfuscation (on unless the request sets `include_obfuscation: false`): random
 * characters in a last top-level `obfuscation` field of every chunk, to even out sizes. The parse
 * never reads it, so a template whose chunk ends with it lets that value vary too.
 */
const OBF = ',"obfuscation":"';
const END = '"}';

export class ContentTemplate {
  /**
   * `marker`: where the text starts in the provider's serialization, e.g. OpenAI's
   * `"delta":{"content":"`; a chunk with its keys in another order is parsed whole.
   */
  constructor(private readonly marker: string) {}

  private prefix = '';
  /** The bytes from the text's closing quote to the end, or (`obf`) to the obfuscation field. */
  private suffix = '';
  private obf = false;
  private tries = 0;

  /** The delta text of a chunk of the learned shape; undefined when `data` is not one (parse it whole). */
  match(data: string): string | undefined {
    const p = this.prefix;
    if (p.length === 0) return undefined;
    // Where the suffix ends: the data's end, or the obfuscation field, whose value must be a valid
    // string body closing the object. Slices compared with ===: a native comparison of the
    // characters (an optimised startsWith compiled to a JavaScript loop of ≈ 70 instructions a
    // character of a sliced string).
    let tail = data.length;
    if (this.obf) {
      tail = data.lastIndexOf(OBF);
      if (tail < 0 || data.slice(data.length - END.length) !== END) return undefined;
      if (decodeBody(data.slice(tail + OBF.length, data.length - END.length)) === undefined) return undefined;
    }
    const end = tail - this.suffix.length;
    if (end < p.length || data.slice(0, p.length) !== p || data.slice(end, tail) !== this.suffix) return undefined;
    return decodeBody(data.slice(p.length, end));
  }

  /**
   * Learns the shape from `data`, a chunk the whole parse read as exactly one content delta,
   * `text`. The text must sit where the marker first occurs and read back as `text`; and `reads`
   * (the whole parse: the one delta's text of a chunk, else undefined) must read PROBE from the
   * chunk with PROBE in that place (and another obfuscation value) — so the place is the very field
   * the parse takes the text from, whatever else the chunk holds. Otherwise no template is kept,
   * and every chunk is parsed whole.
   */
  learn(data: string, text: string, reads: (data: string) => string | undefined): void {
    this.prefix = this.suffix = '';
    if (this.tries >= MAX_TRIES) return;
    this.tries++;
    const at = data.indexOf(this.marker);
    if (at < 0) return;
    const start = at + this.marker.length;
    const close = closingQuote(data, start);
    if (close < 0 || decodeBody(data.slice(start, close)) !== text) return;
    const o = data.lastIndexOf(OBF);
    const obf = o > close && data.endsWith(END) && decodeBody(data.slice(o + OBF.length, data.length - END.length)) !== undefined;
    const prefix = data.slice(0, start);
    const suffix = data.slice(close, obf ? o : data.length);
    if (reads(prefix + PROBE + suffix + (obf ? `${OBF}${PROBE}${END}` : '')) !== PROBE) return;
    this.prefix = prefix;
    this.suffix = suffix;
    this.obf = obf;
  }
}
