/** Minimal client for the admin API, used by the CLI commands. */
export class AdminClient {
  private token?: string;
  constructor(
    private readonly baseUrl: string,
    opts: { token?: string; password?: string },
  ) {
    this.token = opts.token;
    this.password = opts.password;
  }
  private readonly password?: string;

  private async ensureToken(): Promise<string> {
    if (this.token) return this.token;
    if (!this.password) throw new Error('No admin credentials: pass --token or --password (or set KAIXU_ADMIN_TOKEN / KAIXU_ADMIN_PASSWORD)');
    const res = await this.raw('POST', '/admin/api/login', { password: this.password }, false);
    this.token = (res as { token: string }).token;
    return this.token;
  }

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    await this.ensureToken();
    return this.raw(method, path, body, true);
  }

  private async raw(method: string, path: string, body: unknown, auth: boolean): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { 'content-type': 'application/json', ...(auth && this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new Error(`Cannot reach the gateway at ${this.baseUrl}: ${(e as Error).message}`);
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
      throw new Error(`${res.status} ${er?.code ?? ''} ${er?.message ?? text}${fields}`.trim());
    }
    return json;
  }
}
