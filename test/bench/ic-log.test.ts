import { describe, expect, it } from 'vitest';
import { icSites, missesPerRequest, renderIcWorkload } from '../../bench/ic-log.ts';

/** bench/ic-log.ts: V8's --log-ic lines → misses by site, with the code that holds each address. */

const code = (addr: number, size: number, name: string) => `code-creation,JS,10,100,0x${addr.toString(16)},${size},${name},0xabc,*`;
const ic = (type: string, pc: number, key: string, state = 'N>N', reason = '') => `${type},0x${pc.toString(16)},200,1,42,${state.replace('>', ',')},0x999,${key},,${reason}`;

describe('IC misses by site', () => {
  it('counts only the window, names each miss by the code that held its address (created before or within it)', () => {
    const before = [
      'v8-version,11,3,244,8,-node.38,0',
      code(0x1000, 0x100, 'admitOnce file:///app/src/governance/service.ts:1:1752'),
      code(0x2000, 0x80, 'chunkFrame file:///app/src/http/routes/v1/format.ts:1:10'),
      // A miss during the warm-up: not counted.
      ic('LoadIC', 0x1010, 'auth'),
    ].join('\n');
    const window = [
      ic('LoadIC', 0x1010, 'auth'),
      ic('LoadIC', 0x1020, 'auth'),
      ic('LoadIC', 0x1010, 'requestId'),
      code(0x3000, 0x40, 'late file:///app/src/late.ts:1:1'),
      ic('StoreIC', 0x3004, 'kind', 'N>N', "LookupForWrite said 'false'"),
      ic('LoadIC', 0x2050, 'id', '1>P'),
      // No code holds it: the address itself.
      ic('KeyedLoadIC', 0x9000, 'x'),
      'tick,0x1,2,3',
    ].join('\n');
    const sites = icSites(before, window, '/app');
    expect(sites[0]).toEqual({ fn: 'admitOnce src/governance/service.ts:1:1752', ic: 'LoadIC', key: 'auth', state: 'N>N', reason: '', count: 2 });
    expect(sites.map((s) => [s.fn.split(' ')[0], s.key, s.count])).toEqual([
      ['admitOnce', 'auth', 2],
      ['0x9000', 'x', 1],
      ['admitOnce', 'requestId', 1],
      ['chunkFrame', 'id', 1],
      ['late', 'kind', 1],
    ]);
    expect(sites.find((s) => s.key === 'kind')!.reason).toBe("LookupForWrite said 'false'");
    expect(sites.find((s) => s.key === 'id')!.state).toBe('1>P');
  });

  it('follows code the garbage collector moved, and code that replaced code at the same address', () => {
    const before = [code(0x1000, 0x100, 'old file:///a.ts:1:1'), 'code-move,0x1000,0x5000', code(0x1000, 0x100, 'new file:///b.ts:1:1')].join('\n');
    const sites = icSites(before, [ic('LoadIC', 0x5010, 'a'), ic('LoadIC', 0x1010, 'b')].join('\n'));
    expect(sites.map((s) => `${s.fn}:${s.key}`).sort()).toEqual(['new file:///b.ts:1:1:b', 'old file:///a.ts:1:1:a']);
    // Past the moved code's end: not it.
    expect(icSites(before, ic('LoadIC', 0x5100, 'c'))[0]!.fn).toBe('0x5100');
  });

  it('renders misses per request, most frequent first, with the slow-stub reason', () => {
    const w = {
      label: 'POST /v1/chat/completions',
      requests: 200,
      sites: [
        { fn: 'admitOnce src/governance/service.ts:1:1', ic: 'LoadIC', key: 'auth', state: 'N>N', reason: '', count: 200 },
        { fn: 'begin src/chat/service.ts:1:1', ic: 'StoreIC', key: 'kind', state: 'N>N', reason: "LookupForWrite said 'false'", count: 100 },
      ],
    };
    expect(missesPerRequest(w)).toBe(1.5);
    const md = renderIcWorkload(w, 1);
    expect(md).toContain('### POST /v1/chat/completions: 1.50 IC misses per request (300 over 200 requests, 2 sites)');
    expect(md).toContain('| 1.00 | LoadIC | `auth` | N>N | admitOnce src/governance/service.ts:1:1 |');
    expect(md).not.toContain('begin src/chat');
  });
});
