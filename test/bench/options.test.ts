import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { baselineTree } from '../../bench/baseline.ts';
import { BenchUsageError, parseBenchArgs, RUN_BOUND_MS, runBoundNote, USAGE } from '../../bench/options.ts';
import { renderReport, roundsSpread } from '../../bench/report.ts';
import { reportPath } from '../../bench/results.ts';
import { cell, fixture, streamRow } from './fixtures.ts';

/** The before/after section (`--baseline`), the cap mode (`--cap-mode`) and where a report is written. */

describe('before / after (--baseline)', () => {
  it('renders the comparison: before → after per concurrency, the change in req/s, and the stream line', () => {
    const r = fixture({ p50: 500, p99: 2000, rps: 2000, cpu: 500, ttfb: 600, total: 110.5, alone: 985, rssGrowthMB: 80 });
    r.baseline = {
      ref: 'main~3',
      commit: 'abc1234',
      cells: [1, 16, 64].flatMap((c) => [cell('gw-before', c, 900, 3000, 1000, 800), cell('gw-after', c, 600, 2500, 1250, 640)]),
      stream: [streamRow('gw-before', 2400, 121, 990), streamRow('gw-after', 2000, 120.5, 990)],
    };
    // Each round's p50s (ns): after is lower in two rounds of three for TTFB, in every round at the end.
    r.baseline.stream[0]!.rounds = { ttfb: [2400e3, 2300e3, 2500e3], tail: [300e3, 310e3, 290e3], total: [121e6, 121.1e6, 120.9e6] };
    r.baseline.stream[1]!.rounds = { ttfb: [2000e3, 2350e3, 2100e3], tail: [250e3, 260e3, 240e3], total: [120.5e6, 120.6e6, 120.4e6] };
    const md = renderReport(r);
    expect(md).toContain('## Before / after — gateway / SQLite at `main~3` (abc1234) vs this tree');
    expect(md).toMatch(/\|\s+1 \|\s+1000 → 1250 \|\s+\+25\.0 % \|\s+— \|\s+800 → 640 \|\s+— \|\s+900 → 600 \|\s+— \|/);
    expect(md).toContain('TTFB p50 2400 → 2000 µs (rounds −400 … +50 µs, 2/3)');
    expect(md).toContain('end after last token p50 200 → 200 µs (rounds −50 … −50 µs, 3/3)');
    expect(md).toContain('total p50 121000 → 120500 µs (rounds −500 … −500 µs, 3/3)');
    // Results without the rounds (written before they were kept): the pooled figures alone.
    delete r.baseline.stream[0]!.rounds;
    expect(renderReport(r)).toContain('TTFB p50 2400 → 2000 µs, first token p50');
    expect(md).toContain('finish chunk p50 120.9 → 120.4 ms');
    expect(md).toContain('*Rounds*: the range of the rounds’ own changes');
  });

  it('shows how the change varied over the rounds: range of each round’s own change and how many rounds were ahead', () => {
    const r = fixture({ p50: 500, p99: 2000, rps: 2000, cpu: 500, ttfb: 600, total: 110.5, alone: 985, rssGrowthMB: 80 });
    const before = cell('gw-before', 16, 900, 3000, 1000, 800);
    const after = cell('gw-after', 16, 880, 2900, 1010, 790);
    Object.assign(before, { roundRps: [1000, 1000, 1000, 1000], roundP50: [900e3, 900e3, 900e3, 900e3], roundCpuUs: [800, 800, 800, 800] });
    // Rounds 1 and 3 ahead, 2 and 4 behind: a pooled +1 % that the rounds do not agree on.
    Object.assign(after, { roundRps: [1050, 980, 1030, 970], roundP50: [850e3, 920e3, 870e3, 910e3], roundCpuUs: [760, 812, 790, 801] });
    expect(roundsSpread(before, after)).toEqual({ rps: '−3.0 … +5.0 %, 2/4', p50: '−50 … +20 µs, 2/4', cpu: '−40 … +12 µs, 2/4' });
    r.baseline = { ref: 'HEAD', commit: 'abc1234', cells: [before, after], stream: [] };
    r.settings.concurrencies = [16];
    expect(renderReport(r)).toMatch(/\|\s+16 \|\s+1000 → 1010 \|\s+\+1\.0 % \|\s+−3\.0 … \+5\.0 %, 2\/4 \|\s+800 → 790 \|\s+−40 … \+12 µs, 2\/4 \|\s+900 → 880 \|\s+−50 … \+20 µs, 2\/4 \|/);
    // Rounds that do not pair up (a round missed by one side) give no range rather than a wrong one.
    after.roundRps = [1050, 980, 1030];
    delete after.roundCpuUs;
    expect(roundsSpread(before, after)).toEqual({ rps: '—', p50: '−50 … +20 µs, 2/4', cpu: '—' });
    // A window whose CPU could not be read is NaN in its place: the other rounds still pair up.
    after.roundCpuUs = [760, Number.NaN, 790, 801];
    expect(roundsSpread(before, after).cpu).toBe('−40 … +1 µs, 2/3');
  });

  it('says why when the comparison could not run, and never shows numbers then', () => {
    const r = fixture({ p50: 500, p99: 2000, rps: 2000, cpu: 500, ttfb: 600, total: 110.5, alone: 985, rssGrowthMB: 80 });
    r.baseline = { ref: 'nope', commit: '', cells: [], stream: [], error: '--baseline: "nope" is not a commit of this repository' };
    expect(renderReport(r)).toContain('Not measured: --baseline: "nope" is not a commit of this repository');
  });

  it('checks a ref out in a temporary worktree sharing node_modules, and removes it without a trace', async () => {
    const root = new URL('../..', import.meta.url).pathname;
    expect(() => baselineTree(root, 'no-such-ref-kaixu')).toThrow('is not a commit of this repository');
    const tree = baselineTree(root, 'HEAD');
    try {
      expect(tree.commit).toMatch(/^[0-9a-f]{7}$/);
      expect(existsSync(`${tree.dir}/src/cli/main.ts`)).toBe(true);
      expect(existsSync(`${tree.dir}/node_modules/hono`)).toBe(true);
    } finally {
      await tree.remove();
    }
    expect(existsSync(tree.dir)).toBe(false);
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('git', ['-C', root, 'worktree', 'list'], { encoding: 'utf8' })).not.toContain(tree.dir);
  });
});

describe('cap mode (--cap-mode)', () => {
  it('says which caps the gateway ran with; a soft-cap run says it is not the record', () => {
    const r = fixture({ p50: 300, p99: 500, rps: 3000, cpu: 250, ttfb: 350, total: 110, alone: 1000, rssGrowthMB: 10 });
    expect(renderReport(r)).toContain('RPM limit, hard caps (a cap reservation before every call), usage ledger');
    r.settings.capMode = 'soft';
    const md = renderReport(r);
    expect(md).toContain('RPM limit, **soft caps** (`--cap-mode soft`: no reservation');
    expect(md).toContain('so this run is not the record');
  });
});

describe('reportPath', () => {
  it('keeps latest.md for full runs only; partial runs write partial.md; --out wins', () => {
    const path = (...argv: string[]) => reportPath('/r', parseBenchArgs(argv));
    expect(path()).toBe('/r/bench/results/latest.md');
    expect(path('--only', 'none', '--cells', 'none')).toBe('/r/bench/results/partial.md');
    expect(path('--quick')).toBe('/r/bench/results/partial.md');
    expect(path('--cells', 'stream')).toBe('/r/bench/results/partial.md');
    expect(path('--only', 'gw-sqlite', '--out', '/x/y.md')).toBe('/x/y.md');
    // The record is measured at the targets' setting, hard caps.
    expect(path('--cap-mode', 'hard')).toBe('/r/bench/results/latest.md');
    expect(path('--cap-mode', 'soft')).toBe('/r/bench/results/partial.md');
    // The upstream beside the servers under test: the old layout, not the record's.
    expect(path('--upstream-core', 'load')).toBe('/r/bench/results/latest.md');
    expect(path('--upstream-core', 'servers')).toBe('/r/bench/results/partial.md');
    // Options that do not change what is measured keep it the record.
    expect(path('--model', 'gpt-4o-mini', '--no-write')).toBe('/r/bench/results/latest.md');
  });
});

describe('command line (bench/options.ts)', () => {
  it('parses the options once: lists, numbers, modes; absent numbers take the run defaults', () => {
    const o = parseBenchArgs(['--only', 'direct, gw-sqlite', '--cells', 'chat', '--window', '800', '--warmup', '0', '--stream-warmup', '1500', '--cap-mode', 'soft', '--profile-target', 'postgres']);
    expect([...o.only]).toEqual(['direct', 'gw-sqlite']);
    expect([...o.cells]).toEqual(['chat']);
    expect(o.n).toEqual({ window: 800, warmup: 0, 'stream-warmup': 1500 });
    expect(o.capMode).toBe('soft');
    expect(o.upstreamCore).toBe('load');
    expect(parseBenchArgs(['--upstream-core', 'servers']).upstreamCore).toBe('servers');
    expect(o.profile).toEqual({ on: false, target: 'postgres', seconds: 10, concurrency: 16, warmupSeconds: 5, stream: false });
    expect(o.partial).toBe(true);
    const d = parseBenchArgs([]);
    expect([...d.only]).toEqual(['direct', 'floor', 'gw-sqlite', 'gw-pg', 'monitor']);
    expect([...d.cells]).toEqual(['many', 'chat', 'stream', 'unpaced']);
    expect(d.n).toEqual({});
    expect(d.partial).toBe(false);
    // "none" alone: the before/after by itself.
    const b = parseBenchArgs(['--only', 'none', '--cells', 'none', '--baseline', 'HEAD~1']);
    expect([b.only.size, b.cells.size, b.baseline]).toEqual([0, 0, 'HEAD~1']);
    expect(d.ic).toEqual({ on: false, warmup: 2000, requests: 1000, top: 15 });
    expect(parseBenchArgs(['--ic', '--ic-warmup', '0', '--ic-requests', '50', '--ic-top', '3']).ic).toEqual({ on: true, warmup: 0, requests: 50, top: 3 });
    const u = parseBenchArgs(['--cells', 'unpaced', '--unpaced-window', '500', '--unpaced-concurrency', '32']);
    expect([[...u.cells], u.n]).toEqual([['unpaced'], { 'unpaced-window': 500, 'unpaced-concurrency': 32 }]);
    expect(parseBenchArgs(['--profile', '--profile-stream']).profile).toMatchObject({ on: true, stream: true });
    // The upstream's vendor for a count, and the model that goes with it unless one is named.
    expect([d.instructions.provider, d.model]).toEqual(['openai', 'gpt-4o-mini']);
    const a = parseBenchArgs(['--instructions', '--instr-stream', '--instr-provider', 'anthropic']);
    expect([a.instructions.provider, a.instructions.stream, a.model]).toEqual(['anthropic', true, 'claude-haiku-4-5']);
    expect(parseBenchArgs(['--instructions', '--instr-provider', 'anthropic', '--model', 'claude-sonnet-4-5']).model).toBe('claude-sonnet-4-5');
  });

  it.each([
    [['--nope'], "Unknown option '--nope'"],
    [['stray'], "Unexpected argument 'stray'"],
    [['--window'], "Option '--window <value>' argument missing"],
    [['--window', '0'], '--window: "0" is not a whole number ≥ 1'],
    [['--rounds', '2.5'], '--rounds: "2.5" is not a whole number ≥ 1'],
    [['--warmup=-1'], '--warmup: "-1" is not a whole number ≥ 0'],
    [['--warmup', '-1'], "Option '--warmup' argument is ambiguous. Did you forget to specify the option argument for '--warmup'? To specify an option argument starting with a dash use '--warmup=-XYZ'."],
    [['--streams', 'many'], '--streams: "many" is not a whole number ≥ 1'],
    [['--stream-warmup=-5'], '--stream-warmup: "-5" is not a whole number ≥ 0'],
    [['--profile-seconds', ''], '--profile-seconds: "" is not a whole number ≥ 1'],
    [['--only', 'direct,gw-sqlit'], '--only: "gw-sqlit" not among direct, floor, gw-sqlite, gw-pg, monitor (or none)'],
    [['--cells', ','], '--cells: empty'],
    [['--cells', 'none,chat'], '--cells: "none" not among'],
    [['--cap-mode', 'off'], '--cap-mode: "off" is not hard or soft'],
    [['--upstream-core', '1'], '--upstream-core: "1" is not load or servers'],
    [['--profile-target', 'pg'], '--profile-target: "pg" is not sqlite or postgres'],
    [['--ic', '--instructions'], '--instructions, --profile and --ic: one at a time'],
    [['--ic', '--profile'], '--instructions, --profile and --ic: one at a time'],
    [['--ic-requests', '0'], '--ic-requests: "0" is not a whole number ≥ 1'],
    [['--unpaced-concurrency', '0'], '--unpaced-concurrency: "0" is not a whole number ≥ 1'],
    [['--profile-stream'], '--profile-stream goes with --profile'],
    [['--instructions', '--instr-provider', 'gemini'], '--instr-provider: "gemini" is not openai or anthropic'],
    [['--instr-provider', 'anthropic'], '--instr-provider goes with --instructions'],
  ])('refuses %j with a one-line reason', (argv, reason) => {
    let err: unknown;
    try {
      parseBenchArgs(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BenchUsageError);
    expect((err as Error).message).toContain(reason);
    expect((err as Error).message).not.toContain('\n');
  });

  it('npm run bench: a bad option exits 2 with the reason and the usage, no stack, nothing started; --help exits 0', () => {
    const root = new URL('../..', import.meta.url).pathname;
    const run = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...a], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    const bad = run('--window', 'soon');
    expect(bad.status).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('bench: --window: "soon" is not a whole number ≥ 1');
    expect(bad.stderr).toContain('--cap-mode hard|soft');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(bad.stderr).not.toContain('starting');
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toBe(USAGE);
    expect(help.stderr).toBe('');
  });
});

describe('the 4-minute bound of a default run', () => {
  it('notes a default full run that took longer than 4 minutes, and nothing else', () => {
    const full = parseBenchArgs([]);
    expect(runBoundNote(full, RUN_BOUND_MS - 1)).toBeNull();
    expect(runBoundNote(full, 251_400)).toBe(
      'This run took 251 s: over the 4 minutes a default `npm run bench` is bounded to (issue 7). The host was slower than the ones it was sized on; see bench/README.md, "Run time".',
    );
    // Runs with options are as long as their options make them.
    for (const argv of [['--quick'], ['--only', 'gw-sqlite'], ['--cells', 'chat'], ['--window', '5000'], ['--rounds', '6'], ['--stream-warmup', '2000'], ['--baseline', 'HEAD'], ['--cap-mode', 'soft']]) {
      expect(runBoundNote(parseBenchArgs(argv), 300_000), argv.join(' ')).toBeNull();
    }
  });
});
