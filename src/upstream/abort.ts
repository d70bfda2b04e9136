import { EventEmitter } from 'node:events';

/**
 * The abort handle of one call: the HTTP edge trips it when the client goes away, the chat
 * session when it stops the upstream (cancel, failure). It is an EventEmitter with `aborted` and
 * an 'abort' event, which undici's request() takes as its signal just like an AbortSignal — at a
 * fraction of the cost (≈0.2 µs with its listener, against ≈5 µs for an AbortController, on
 * every call).
 */
export class CallAbort extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }

  /** Runs `fn` once on abort (at once if already aborted); returns the unsubscribe. */
  onAbort(fn: () => void): () => void {
    if (this.aborted) {
      fn();
      return () => undefined;
    }
    this.once('abort', fn);
    return () => this.removeListener('abort', fn);
  }
}

/** What the upstream client accepts as a request's signal. */
export type UpstreamSignal = AbortSignal | CallAbort;
