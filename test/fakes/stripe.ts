import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Stripe API on loopback, following reference/external-apis.md §3: POST
 * /v1/checkout/sessions with a form-encoded body using bracket/indexed keys, Bearer auth,
 * real-shaped Session JSON, Stripe's error body `{error:{type, code?, message, param?}}`,
 * and Idempotency-Key replay. Point stripe-node at it with host/port/protocol.
 */

type Json = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  form: Json;
}

export interface FakeStripe {
  host: string;
  port: number;
  secretKey: string;
  sessions: Map<string, Json>;
  requests: RecordedRequest[];
  /** The next request answers with this status and Stripe error body instead. */
  failNext(status: number, error: { type: string; message: string; code?: string; param?: string }): void;
  /** A `checkout.session.*` event for a created session, as Stripe would post it. */
  event(sessionId: string, opts?: { type?: string; paymentStatus?: string; id?: string; amountTotal?: number }): Json;
  close(): Promise<void>;
}

const rand = (n: number) => randomBytes(n).toString('base64url').replace(/[-_]/g, 'x').slice(0, n);

/** `a[b][0][c]=v` → {a:{b:[{c:v}]}} (stripe-node's stringifyRequestData, inverted). */
export function parseStripeForm(body: string): Json {
  const root: Json = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const parts = rawKey.replace(/\]/g, '').split('[');
    let node: Json | unknown[] = root;
    parts.forEach((p, i) => {
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(parts[i + 1]!);
      const container = node as Record<string, unknown>;
      if (last) container[p] = value;
      else {
        container[p] ??= nextIsIndex ? [] : {};
        node = container[p] as Json;
      }
    });
  }
  return root;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${rand(14)}`, 'stripe-version': '2026-10-28.endive' });
  res.end(JSON.stringify(body));
}

const missing = (param: string) => ({
  status: 400,
  body: { error: { type: 'invalid_request_error', code: 'parameter_missing', param, message: `Missing required param: ${param}.`, doc_url: 'https://stripe.com/docs/error-codes/parameter-missing' } },
});

function validateSession(f: Json): { status: number; body: Json } | null {
  if (!f.mode) return missing('mode');
  if (f.mode !== 'payment') return null;
  const items = f.line_items as Json[] | undefined;
  if (!items?.length) return missing('line_items');
  for (const [i, it] of items.entries()) {
    const pd = it.price_data as Json | undefined;
    if (!it.price && !pd) return missing(`line_items[${i}][price_data]`);
    if (pd) {
      if (!pd.currency) return missing(`line_items[${i}][price_data][currency]`);
      if (!(pd.product_data as Json | undefined)?.name) return missing(`line_items[${i}][price_data][product_data][name]`);
      if (!/^\d+$/.test(String(pd.unit_amount ?? ''))) return missing(`line_items[${i}][price_data][unit_amount]`);
    }
  }
  if (!f.success_url) return missing('success_url');
  const total = items.reduce((s, it) => s + Number((it.price_data as Json).unit_amount) * Number(it.quantity ?? 1), 0);
  if (total < 50) {
    return {
      status: 400,
      body: { error: { type: 'invalid_request_error', code: 'amount_too_small', param: 'line_items[0][price_data][unit_amount]', message: 'The Checkout Session\'s total amount due must add up to at least $0.50 usd' } },
    };
  }
  return null;
}

function sessionFrom(f: Json): Json {
  const id = `cs_test_${rand(58)}`;
  const items = (f.line_items as Json[]) ?? [];
  const total = items.reduce((s, it) => s + Number((it.price_data as Json)?.unit_amount ?? 0) * Number(it.quantity ?? 1), 0);
  const now = Math.floor(Date.now() / 1000);
  return {
    id,
    object: 'checkout.session',
    mode: f.mode,
    status: 'open',
    payment_status: 'unpaid',
    amount_subtotal: total,
    amount_total: total,
    currency: (items[0]?.price_data as Json | undefined)?.currency ?? null,
    client_reference_id: f.client_reference_id ?? null,
    customer: null,
    customer_email: f.customer_email ?? null,
    customer_details: null,
    metadata: f.metadata ?? {},
    payment_intent: null,
    livemode: false,
    created: now,
    expires_at: now + 86_400,
    success_url: f.success_url ?? null,
    cancel_url: f.cancel_url ?? null,
    url: `https://checkout.stripe.com/c/pay/${id}`,
  };
}

export async function startFakeStripe(opts: { secretKey?: string } = {}): Promise<FakeStripe> {
  const secretKey = opts.secretKey ?? `sk_test_${rand(24)}`;
  const sessions = new Map<string, Json>();
  const requests: RecordedRequest[] = [];
  const idempotent = new Map<string, { status: number; body: unknown }>();
  let nextFailure: { status: number; body: Json } | null = null;

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    const form = parseStripeForm(body);
    requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, form });
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${secretKey}`) {
      const shown = auth.replace(/^Bearer\s+/, '');
      return send(res, 401, { error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${shown.slice(0, 8)}****${shown.slice(-4)}` } });
    }
    if (nextFailure) {
      const f = nextFailure;
      nextFailure = null;
      return send(res, f.status, f.body);
    }
    const idemKey = req.method === 'POST' ? (req.headers['idempotency-key'] as string | undefined) : undefined;
    if (idemKey && idempotent.has(idemKey)) {
      const prior = idempotent.get(idemKey)!;
      return send(res, prior.status, prior.body);
    }
    let out: { status: number; body: unknown };
    if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      const bad = validateSession(form);
      if (bad) out = bad;
      else {
        const s = sessionFrom(form);
        sessions.set(s.id as string, s);
        out = { status: 200, body: s };
      }
    } else if (req.method === 'GET' && url.pathname.startsWith('/v1/checkout/sessions/')) {
      const s = sessions.get(url.pathname.split('/').pop()!);
      out = s
        ? { status: 200, body: s }
        : { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'session', message: 'No such checkout.session' } } };
    } else {
      out = { status: 404, body: { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${url.pathname}).` } } };
    }
    if (idemKey) idempotent.set(idemKey, out);
    send(res, out.status, out.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    secretKey,
    sessions,
    requests,
    failNext(status, error) {
      nextFailure = { status, body: { error } };
    },
    event(sessionId, o = {}) {
      const s = sessions.get(sessionId);
      if (!s) throw new Error(`fake stripe: no session ${sessionId}`);
      const paid = (o.paymentStatus ?? 'paid') === 'paid';
      return {
        id: o.id ?? `evt_${rand(24)}`,
        object: 'event',
        api_version: '2026-10-28.endive',
        created: Math.floor(Date.now() / 1000),
        type: o.type ?? 'checkout.session.completed',
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        data: {
          object: {
            ...s,
            status: 'complete',
            payment_status: o.paymentStatus ?? 'paid',
            amount_total: o.amountTotal ?? s.amount_total,
            payment_intent: paid ? `pi_${rand(24)}` : null,
            url: null,
            customer_details: { email: s.customer_email, name: null },
          },
        },
      };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
