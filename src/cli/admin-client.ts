/** Minimal client for the admin API, used by the CLI commands. Errors are one readable line (plus field details). */
export class AdminClient {
  private token?: string;
  private readonly password?: string;
  private readonly baseUrl: string;

  constructor(baseUrl: string, opts: { token?: string; password?: string; timeoutMs?: number }) {
    // Keep any path prefix of the URL (a gateway behind a reverse proxy at /kaixu).
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.password = opts.password;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }
  private readonly timeoutMs: number;

  private async ensureToken(): Promise<string> {
    if (this.token) return this.token;
    if (!this.password) throw new Error('No admin credentials: pass --token or --password (or set KAIXU_ADMIN_TOKEN / KAIXU_ADMIN_PASSWORD)');
    try {
      const res = await this.raw('POST', '/admin/api/login', { password: this.password }, false);
      this.token = (res as { token: string }).token;
    } catch (e) {
      throw new Error(`Admin login failed: ${(e as Error).message}`);
    }
    return this.token;
  }

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    await this.ensureToken();
    return this.raw(method, path, body, true);
  }

  private async raw(method: string, path: string, body: unknown, auth: boolean): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: { 'content-type': 'application/json', ...(auth && this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000}s` : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new Error(`Cannot reach the gateway at ${this.baseUrl}: ${why}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { raw: text };
    }
    if (!res.ok) {
      const er = (json as { error?: { code?: string; message?: string; fields?: { path: string; message: string }[] } }).error;
      const fields = er?.fields?.map((f) => `\n  - ${f.path}: ${f.message}`).join('') ?? '';
      const message = er?.message ?? (text.slice(0, 200) || res.statusText);
      throw new Error([res.status, er?.code, message].filter(Boolean).join(' ') + fields);
    }
    return json;
  }
}
