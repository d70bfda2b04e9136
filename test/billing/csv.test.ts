import { describe, expect, it } from 'vitest';
import { csvCell, csvRow } from '../../src/billing/exports/csv.ts';
import { keysetCsvStream } from '../../src/billing/exports/stream.ts';

describe('CSV encoding (RFC 4180 + formula guard)', () => {
  it('quotes fields holding comma, quote, CR or LF and doubles quotes', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('line1\nline2')).toBe('"line1\nline2"');
    expect(csvCell('cr\rhere')).toBe('"cr\rhere"');
    expect(csvCell('')).toBe('');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
  });

  it('prefixes text starting with = + - @ TAB CR with a single quote', () => {
    expect(csvCell('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-2')).toBe("'-2");
    expect(csvCell('@cmd')).toBe("'@cmd");
    expect(csvCell('\tTAB')).toBe("'\tTAB");
    expect(csvCell('\rCR')).toBe('"\'\rCR"');
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(csvCell('a=b')).toBe('a=b');
  });

  it('writes our numbers as numbers (exact decimals, no guard)', () => {
    expect(csvCell(0.0001)).toBe('0.0001');
    expect(csvCell(1.2345)).toBe('1.2345');
    expect(csvCell(42)).toBe('42');
    expect(csvCell(Number.NaN)).toBe('');
    expect(csvRow(['a', 1, null, '-x'])).toBe("a,1,,'-x\r\n");
  });

  it('pulls one keyset page at a time and stops at maxRows', async () => {
    const calls: [number, number][] = [];
    const data = Array.from({ length: 25 }, (_, i) => ({ id: i + 1 }));
    const stream = keysetCsvStream(
      {
        fetch: async (after, limit) => {
          calls.push([after, limit]);
          return data.filter((r) => r.id > after).slice(0, limit);
        },
        idOf: (r) => r.id,
        toCells: (r) => [r.id],
      },
      { header: ['id'], batchSize: 10, maxRows: 23 },
    );
    const reader = stream.getReader();
    const first = await reader.read(); // the header only: no page read yet
    expect(new TextDecoder().decode(first.value)).toBe('id\r\n');
    expect(calls).toEqual([]);
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text.trim().split('\r\n')).toEqual(Array.from({ length: 23 }, (_, i) => String(i + 1)));
    expect(calls).toEqual([
      [0, 10],
      [10, 10],
      [20, 3],
    ]);
  });

  it('stops reading pages when the consumer cancels', async () => {
    let pages = 0;
    const stream = keysetCsvStream(
      { fetch: async (after, limit) => (pages++, Array.from({ length: limit }, (_, i) => ({ id: after + i + 1 }))), idOf: (r) => r.id, toCells: (r) => [r.id] },
      { header: ['id'], batchSize: 5 },
    );
    const reader = stream.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    const seen = pages;
    await new Promise((r) => setTimeout(r, 20));
    expect(pages).toBe(seen);
    expect(pages).toBeLessThanOrEqual(2);
  });
});
