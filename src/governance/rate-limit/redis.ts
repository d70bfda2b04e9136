import { Redis } from 'ioredis';
import type { RateLimitBackend } from './types.ts';
import type { WindowCounts, WindowSpec } from './window.ts';

/**
 * KEYS: per window i, its current-window counter (2i−1) and previous-window counter (2i).
 * ARGV: n, then per window limit, wnum, wden, ttl_ms. Same decision as window.ts `allows`.
 * Returns {allowed 0|1, prev1, cur1, prev2, cur2, …}.
 */
const LUA = `
local n = tonumber(ARGV[1])
local ok = true
local prev, cur = {}, {}
for i = 1, n do
  local b = 1 + (i - 1) * 4
  local c = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local p = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if p * tonumber(ARGV[b + 2]) >= (tonumber(ARGV[b + 1]) - c) * tonumber(ARGV[b + 3]) then ok = false end
  prev[i] = p
  cur[i] = c
end
if ok then
  for i = 1, n do
    cur[i] = redis.call('INCR', KEYS[2 * i - 1])
    redis.call('PEXPIRE', KEYS[2 * i - 1], tonumber(ARGV[1 + (i - 1) * 4 + 4]))
  end
end
local out = { ok and 1 or 0 }
for i = 1, n do
  out[#out + 1] = prev[i]
  out[#out + 1] = cur[i]
end
return out
`;

type RedisWithScript = Redis & { kaixuRateHit(...args: (string | number)[]): Promise<number[]> };

/**
 * Counters in Redis, shared by every node: one atomic Lua call per request. Commands fail fast
 * (no offline queue, short timeout) so the limiter facade can fall back instead of hanging.
 */
export class RedisRateBackend implements RateLimitBackend {
  readonly name = 'redis' as const;
  private readonly redis: RedisWithScript;

  constructor(
    url: string,
    private readonly prefix: string,
    opts: { commandTimeoutMs?: number } = {},
  ) {
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 500,
    });
    redis.on('error', () => undefined);
    redis.defineCommand('kaixuRateHit', { lua: LUA });
    this.redis = redis as RedisWithScript;
  }

  async start(): Promise<void> {
    await this.redis.connect().catch(() => undefined);
  }

  private key(s: WindowSpec, start: number): string {
    return `${this.prefix}rl:{${s.subject}}:${s.scope}:${start}`;
  }

  async hit(windows: WindowSpec[]): Promise<{ allowed: boolean; counts: WindowCounts[] }> {
    const keys = windows.flatMap((s) => [this.key(s, s.start), this.key(s, s.prevStart)]);
    const argv = [windows.length, ...windows.flatMap((s) => [s.limit, s.wnum, s.wden, Math.max(1, s.expiresAt - s.start - s.elapsed)])];
    const out = await this.redis.kaixuRateHit(keys.length, ...keys, ...argv);
    return { allowed: Number(out[0]) === 1, counts: windows.map((_, i) => ({ prev: Number(out[1 + 2 * i]), cur: Number(out[2 + 2 * i]) })) };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
