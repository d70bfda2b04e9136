/**
 * Runs the project's fake OpenAI upstream (test/fakes/openai.ts) as its own process so it can be
 * pinned with the other servers and its CPU measured; with `anthropic` as its second argument, the
 * fake Anthropic Messages upstream instead (test/fakes/anthropic.ts, `--instructions
 * --instr-provider anthropic`). The orchestrator switches its default
 * behaviour between workloads over IPC ({ setDefault, seq } → { ack: seq }): plain answers (the
 * fake precomputes those bodies) for non-streaming chat, paced 20-chunk streams for the
 * streaming workloads.
 */
import type { FakeBehavior } from '../test/fakes/behavior.ts';

if (!process.send) {
  console.error('bench/upstream.ts is started by bench/run.ts over IPC');
  process.exit(2);
}
try {
  const fakeOpts = { apiKey: process.argv[2], record: false };
  const fake =
    process.argv[3] === 'anthropic'
      ? await (await import('../test/fakes/anthropic.ts')).startFakeAnthropic(fakeOpts)
      : await (await import('../test/fakes/openai.ts')).startFakeOpenAI(fakeOpts);
  process.on('message', (m: { setDefault: FakeBehavior; seq: number }) => {
    fake.setDefault(m.setDefault);
    process.send!({ ack: m.seq });
  });
  process.on('disconnect', () => void fake.close().finally(() => process.exit(0)));
  process.send({ ready: fake.url });
} catch (e) {
  process.send({ failed: (e as Error).message });
  process.exit(1);
}
