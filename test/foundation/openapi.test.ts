import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../src/lib/errors.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

describe('OpenAPI document', () => {
  let t: TestApp;
  let doc: Json;
  beforeAll(async () => {
    t = await makeTestApp('sqlite');
    const res = await t.req('GET', '/openapi.json');
    expect(res.status).toBe(200);
    doc = (await res.json()) as Json;
  });
  afterAll(async () => t?.close());

  it('describes every registered route (path + method) with an operationId', () => {
    // Walk the app's own routing table, so routes added by any area are covered.
    const registered = new Set<string>();
    for (const r of t.app.routes) {
      if (!METHODS.has(r.method) || r.path === '/openapi.json' || r.path.includes('*')) continue;
      registered.add(`${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}')}`);
    }
    expect(registered.size).toBeGreaterThanOrEqual(15);
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Json>)) for (const m of Object.keys(ops)) if (METHODS.has(m.toUpperCase())) documented.add(`${m} ${path}`);
    const missing = [...registered].filter((r) => !documented.has(r));
    expect(missing, 'routes missing from /openapi.json').toEqual([]);

    const ids: string[] = [];
    for (const entry of registered) {
      const [m, path] = entry.split(' ') as [string, string];
      const op = doc.paths[path][m] as Json;
      expect(op.operationId, entry).toMatch(/^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9_-]*)+$/);
      expect(Object.keys(op.responses ?? {}).length, entry).toBeGreaterThan(0);
      ids.push(op.operationId);
    }
    const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(dupes, 'operationIds must be unique').toEqual([]);
  });

  it('is generated from the validating schemas (bodies, params, security)', () => {
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(doc.info.version).toBe(t.c.config.version);
    const create = doc.paths['/admin/api/customers'].post;
    const schema = JSON.stringify(create.requestBody.content['application/json'].schema);
    expect(schema).toMatch(/CreateCustomer/);
    const comp = doc.components.schemas.CreateCustomer;
    expect(comp.required).toEqual(['email']);
    expect(comp.additionalProperties).toBe(false);
    expect(Object.keys(comp.properties)).toEqual(expect.arrayContaining(['email', 'plan', 'monthly_cap_cents', 'allowed_models', 'rpm_limit']));
    expect(create.security).toEqual([{ adminBearer: [] }]);
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '409']));
    const rotate = doc.paths['/admin/api/keys/{key_id}/rotate'].post;
    expect(rotate.parameters.map((p: Json) => `${p.in}:${p.name}`)).toEqual(['path:key_id']);
    expect(doc.components.securitySchemes.adminBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});

describe('docs/errors.md', () => {
  it('documents every error code with its status', () => {
    const md = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = new Map<string, number>();
    for (const line of md.split('\n')) {
      const m = /^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\|\s*(\d{3})\s*\|\s*\S/.exec(line);
      if (m) rows.set(m[1]!, Number(m[2]));
    }
    const undocumented = Object.keys(ERROR_STATUS).filter((c) => !rows.has(c));
    expect(undocumented, 'codes missing from docs/errors.md').toEqual([]);
    for (const [code, status] of Object.entries(ERROR_STATUS)) expect({ code, status: rows.get(code) }).toEqual({ code, status });
    const stale = [...rows.keys()].filter((c) => !(c in ERROR_STATUS));
    expect(stale, 'docs/errors.md lists codes that no longer exist').toEqual([]);
  });
});
