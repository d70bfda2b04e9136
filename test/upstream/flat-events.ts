import { upstreamBatches, type UpstreamEvent } from '../../src/upstream/events.ts';

/** upstreamBatches one event at a time: for tests that look at the events, not at the reads they came in. */
export async function* upstreamEvents(...args: Parameters<typeof upstreamBatches>): AsyncGenerator<UpstreamEvent> {
  for await (const batch of upstreamBatches(...args)) yield* batch;
}
