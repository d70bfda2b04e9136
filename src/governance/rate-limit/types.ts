import type { RateLimitInfo } from '../../gateway/governance.ts';
import type { WindowCounts, WindowSpec } from './window.ts';

export type { RateLimitInfo };

export interface RateDecision {
  allowed: boolean;
  info: RateLimitInfo;
  /** Whole seconds (≥ 1) when refused. */
  retryAfterS: number;
}

/** A counter store: check every window and count the hit in all of them, atomically, or in none. */
export interface RateLimitBackend {
  readonly name: 'memory' | 'postgres' | 'redis';
  hit(windows: WindowSpec[]): Promise<{ allowed: boolean; counts: WindowCounts[] }>;
  prune?(now: number): Promise<number>;
  start?(): Promise<void>;
  close?(): Promise<void>;
}
