import type { ClosedLoopCmd, ClosedLoopResult, LoadReply, ManyStreamsCmd, ManyStreamsResult, StreamCmd, StreamResult } from './protocol.ts';
import { type Child, spawnNode, waitMessage } from './procs.ts';

/** The orchestrator's side of the load generator process (bench/load.ts). */
export class LoadClient {
  private seq = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  private constructor(readonly child: Child) {
    child.proc.on('message', (m: LoadReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    void child.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited\n${child.tail()}`));
      this.pending.clear();
    });
  }

  static async start(root: string, cores: string | null): Promise<LoadClient> {
    const child = spawnNode('bench/load.ts', [], { cores, cwd: root, ipc: true });
    await waitMessage(child, (m) => ((m as { ready?: boolean }).ready ? true : undefined), 30_000, 'load generator');
    return new LoadClient(child);
  }

  private call<T>(cmd: object): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.proc.send({ ...cmd, id });
    });
  }

  closed(c: Omit<ClosedLoopCmd, 'cmd'>) {
    return this.call<ClosedLoopResult>({ cmd: 'closed', ...c });
  }
  stream(c: Omit<StreamCmd, 'cmd'>) {
    return this.call<StreamResult>({ cmd: 'stream', ...c });
  }
  many(c: Omit<ManyStreamsCmd, 'cmd'>) {
    return this.call<ManyStreamsResult>({ cmd: 'many', ...c });
  }
  stop() {
    return this.child.stop();
  }
}
