import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Helpers for tests where a real process is the point (multi-node, CLI, `npm start`). */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const SECRETS = {
  ADMIN_PASSWORD: 'proc-admin-password-7f3a9c',
  JWT_SECRET: 'proc-jwt-secret-0123456789abcdefghijklmnopqrstuv',
  KEY_PEPPER: 'proc-key-pepper-0123456789abcdefghijklmnopqrstuv',
  ENCRYPTION_KEY: 'proc-encryption-key-0123456789abcdefghijklmnopq',
};

/** A free TCP port on 127.0.0.1 (asked from the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const tempDir = (prefix = 'kaixu-proc-') => mkdtempSync(join(tmpdir(), prefix));

/** A minimal environment: nothing of the parent's configuration leaks into the child. */
export const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir() });

export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Resolve when stdout matches (or reject on exit/timeout). */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

export function start(args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForOutput(re, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (done) throw new Error(`process exited before ${re}: ${out}\n${err}`);
        if (Date.now() > until) throw new Error(`timed out waiting for ${re}: ${out}\n${err}`);
        await sleep(25);
      }
    },
    async stop() {
      if (done) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * `node bin/kaixu.js serve` on a fixed port; resolves once /health answers. The port is free when
 * asked for, but a process of another test file can take it before the gateway binds it: a gateway
 * that exits on exactly that is started again on a new port (a few times at most).
 */
export async function startGateway(env: Record<string, string>, opts: { args?: string[]; port?: () => Promise<number> } = {}): Promise<Child & { url: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = await (opts.port ?? freePort)();
    const child = start(opts.args ?? ['bin/kaixu.js', 'serve'], { ...baseEnv(), HOST: '127.0.0.1', PORT: String(port), ...env });
    const url = `http://127.0.0.1:${port}`;
    try {
      // Each probe has its own timeout: whatever holds a raced port may never answer.
      await waitUntil(async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) }).catch(() => null))?.status === 200, 30_000, () => `${child.stdout()}\n${child.stderr()}`, child);
      return Object.assign(child, { url });
    } catch (e) {
      const raced = child.stderr().includes(`Port already in use: 127.0.0.1:${port}`) && env.PORT === undefined;
      if (!raced || attempt >= 3) throw e;
      await child.stop();
    }
  }
}

export async function waitUntil(fn: () => Promise<boolean>, timeoutMs: number, why: () => string, child?: Child): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited = false;
  void child?.exited.then(() => (exited = true));
  while (!(await fn())) {
    if (exited) throw new Error(`process exited: ${why()}`);
    if (Date.now() > until) throw new Error(`timed out: ${why()}`);
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run a CLI command to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = start(['bin/kaixu.js', ...args], { ...baseEnv(), ...env });
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 30_000);
  const code = await c.exited;
  clearTimeout(t);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** JSON fetch against a running gateway. */
export async function http(url: string, method: string, path: string, opts: { body?: unknown; token?: string; key?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(url + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as any, text };
}
