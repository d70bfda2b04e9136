/**
 * Fake upstream servers (loopback, port 0) following reference/external-apis.md.
 *   const fake = await startFakeOpenAI();           // fake.baseUrl → adapter/SDK base URL
 *   fake.enqueue({ kind: 'error', status: 429, retryAfter: 1 });
 *   ... fake.requests[0].body, await fake.waitForSocketClose(fake.last()!)
 *   await fake.close();
 */
export { FakeUpstream, type FakeDialect, type FakeOptions, type RecordedRequest } from './base.ts';
export { type FakeBehavior, type FakeChatCall, type FakeReply, fakeInputTokens, makeReply } from './behavior.ts';
export { startFakeOpenAI, OPENAI_FAKE_KEY, openaiDialect } from './openai.ts';
export { startFakeAnthropic, ANTHROPIC_FAKE_KEY, anthropicDialect } from './anthropic.ts';
export { startFakeGemini, GEMINI_FAKE_KEY, geminiDialect } from './gemini.ts';
export { fakeVector } from './embeddings.ts';
