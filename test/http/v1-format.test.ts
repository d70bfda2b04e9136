import { describe, expect, it } from 'vitest';
import { chunkFrame, chunkHead, contentFrame } from '../../src/http/routes/v1/format.ts';

/**
 * A stream's content chunks are written from the stream's head, serialized once (contentFrame),
 * not by serializing each chunk's whole object (chunkFrame). The bytes must be the same: clients
 * parse them as OpenAI's, and the role, finish and usage chunks still come from chunkFrame.
 */
describe('v1 content chunks from the stream head', () => {
  const texts = ['', 'Echo: ', 'a "quoted" \\ back\\slash', 'line\nbreak\r\ttab', 'ünïcødé 漢字 🎉', '\u0000\u001f\u2028\u2029', '\ud800 lone surrogate', '</script>'];
  const bases = [
    { id: 'chatcmpl-abc123', created: 1_768_478_400, model: 'gpt-4o-mini', includeUsage: true },
    { id: 'chatcmpl-"odd"\\id', created: 0, model: 'vendor/model:free "x"', includeUsage: false },
  ];

  it.each(bases)('writes exactly what chunkFrame writes ($model, usage $includeUsage)', (base) => {
    const head = chunkHead(base);
    for (const text of texts) expect(contentFrame(head, text)).toBe(chunkFrame(base, { delta: { content: text }, finish_reason: null }));
  });

  it('is one SSE data frame whose JSON is an OpenAI chunk', () => {
    const frame = contentFrame(chunkHead(bases[0]!), 'hi');
    expect(frame.startsWith('data: ') && frame.endsWith('\n\n')).toBe(true);
    expect(JSON.parse(frame.slice(6))).toEqual({
      id: 'chatcmpl-abc123',
      object: 'chat.completion.chunk',
      created: 1_768_478_400,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, delta: { content: 'hi' }, logprobs: null, finish_reason: null }],
      usage: null,
    });
  });
});
