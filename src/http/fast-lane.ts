import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from '@hono/zod-openapi';
import type { Container } from '../app/container.ts';
import type { AuthContext } from '../keys/auth.ts';
import type { Surface } from './context.ts';
import { errorBody, toAppError } from './errors.ts';
import { nodeCors } from './middleware/cors.ts';
import { abortOnClose, readBody, stashBody, utf8Text } from './node.ts';
import { clientIpOf, newRequestInfo, observeRequest, requestIdOf, setOverheadHeaders } from './request-scope.ts';
import type { ChatCaller, ChatReply } from './routes/chat/call.ts';
import { streamToNode } from './routes/chat/frame-stream.ts';
import { seedChatReply } from './routes/chat/gateway-chat.ts';
import { seedStreamReply } from './routes/chat/gateway-stream.ts';
import { SeedChatBody } from './routes/chat/schemas.ts';
import { v1Reply } from './routes/v1/chat-completions.ts';
import { seedPaths } from './route-kit.ts';
import { V1ChatBody } from './routes/v1/schemas.ts';
import { compileAcceptor, type Acceptor } from './schema-accept.ts';
import { SERVER_TIMING_REQUEST_HEADER } from './timing.ts';

/**
 * The data plane's fast lane: the chat calls (`POST /v1/chat/completions`, seed `gateway-chat` and
 * `gateway-stream`, JSON and SSE) served straight on node:http, without the Hono app and its
 * fetch-style adapter (Request/Response objects, middleware chain, router, validator), which cost
 * ≈ 80–120 µs of CPU per call (bench/README.md). Same governance, same chat code, same headers,
 * errors and observers as the app: each route's logic is one shared function (v1Reply,
 * seedChatReply, seedStreamReply) that both pipelines call, and the request bookkeeping lives in
 * request-scope.ts.
 *
 * It takes only the plain, well-formed case: the exact path, a JSON body with a Content-Length
 * within the size limit, that parses and passes the route's schema (its quick yes first,
 * schema-accept.ts). Anything else (a query string, a chunked or oversized body, bad JSON, a
 * validation error) goes to the Hono app unchanged, with the body read so far handed over (node.ts
 * stashBody), so every refusal of a request's form comes from the one place that makes it.
 * Switched off with HTTP_FAST_LANE=false.
 */

interface FastRoute<T> {
  operation: string;
  surface: Surface;
  schema: z.ZodType<T>;
  /** The schema's quick yes (schema-accept.ts); a body it does not accept goes to the schema. */
  accept: Acceptor<T> | null;
  run(c: Container, caller: ChatCaller, body: T): Promise<ChatReply>;
}

const fastRoute = <T>(operation: string, surface: Surface, schema: z.ZodType<T>, run: FastRoute<T>['run']): FastRoute<T> => ({ operation, surface, schema, accept: compileAcceptor(schema, operation), run });
const v1Chat = fastRoute('v1.chat.completions', 'openai', V1ChatBody, v1Reply);
const seedChat = fastRoute('gateway.chat', 'seed', SeedChatBody, seedChatReply);
const seedStream = fastRoute('gateway.stream', 'seed', SeedChatBody, seedStreamReply);

const ROUTES = new Map<string, FastRoute<never>>([
  ['/v1/chat/completions', v1Chat as FastRoute<never>],
  ...seedPaths('gateway-chat').map((p) => [p, seedChat as FastRoute<never>] as const),
  ...seedPaths('gateway-stream').map((p) => [p, seedStream as FastRoute<never>] as const),
]);

const header = (incoming: IncomingMessage, name: string) => incoming.headers[name] as string | undefined;

/** The media type is exactly application/json (what the app's validator reads as JSON, minus the exotic). */
function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

/**
 * Builds the fast lane for a container: a function that serves the request itself, or calls
 * `viaApp` for the app to serve it (the body, if it started reading it, stashed for the app).
 */
export function fastLane(c: Container): (incoming: IncomingMessage, outgoing: ServerResponse, viaApp: () => void) => void {
  const { config } = c;
  const cors = nodeCors(config.ALLOWED_ORIGINS);
  const maxBytes = config.MAX_BODY_BYTES;

  async function serve<T>(route: FastRoute<T>, incoming: IncomingMessage, outgoing: ServerResponse, body: T, t0: number): Promise<void> {
    const requestId = requestIdOf(header(incoming, 'x-kaixu-request-id') ?? header(incoming, 'x-request-id'));
    const ip = clientIpOf(config.TRUST_PROXY, header(incoming, 'x-forwarded-for'), incoming.socket?.remoteAddress);
    outgoing.setHeader('x-kaixu-request-id', requestId);
    const info = newRequestInfo(route.surface, header(incoming, SERVER_TIMING_REQUEST_HEADER), t0);
    info.operation = route.operation;
    info.lane = 'fast';
    const origin = header(incoming, 'origin');
    if (origin) cors(outgoing, origin);
    // On this lane `body` also covers parsing and validating it (the app validates after auth).
    info.timing?.mark('body');
    let auth: AuthContext | undefined;
    // The JSON answer (a reply or an error) to write; none when a stream writes itself.
    let out: { status: number; json: string; headers: Record<string, string> } | undefined;
    try {
      auth = await c.keyAuth.authenticate(header(incoming, 'authorization'), { deferRevocationCheck: true });
      info.timing?.mark('auth');
      // Methods, not arrow properties: under tsx (keepNames) every named arrow created per request
      // costs a defineProperty call.
      const caller: ChatCaller = {
        requestId,
        info,
        auth,
        clientIp: ip,
        header(name) {
          return header(incoming, name);
        },
        abort() {
          return abortOnClose(outgoing);
        },
        setHeader(name, value) {
          outgoing.setHeader(name, value);
        },
      };
      const reply = await route.run(c, caller, body);
      if (reply.kind === 'stream') streamToNode(outgoing, info, t0, reply.headers, reply.source, reply.opts);
      else out = { status: 200, json: JSON.stringify(reply.body), headers: { 'content-type': 'application/json', ...reply.headers } };
    } catch (e) {
      const err = toAppError(e);
      if (err.code === 'INTERNAL') c.log.error({ err: e, request_id: requestId, path: incoming.url }, 'unhandled error');
      info.errorCode = err.code;
      info.errorMessage = err.message;
      out = { status: err.status, json: JSON.stringify(errorBody(err, route.surface, requestId)), headers: { 'content-type': 'application/json', ...err.headers } };
    }
    // As the app's request middleware: a stream's overhead is the time to its answer's start.
    const now = performance.now();
    const durationMs = now - t0;
    const overheadMs = Math.max(0, durationMs - info.upstreamMs);
    setOverheadHeaders(outgoing, route.surface, info, overheadMs, now);
    if (out) {
      out.headers['content-length'] = String(Buffer.byteLength(out.json));
      outgoing.writeHead(out.status, out.headers);
      outgoing.end(out.json);
    }
    if (c.observers.length) {
      observeRequest(
        c,
        {
          requestId,
          method: 'POST',
          path: incoming.url!,
          status: out?.status ?? 200,
          durationMs,
          overheadMs,
          surface: route.surface,
          info,
          auth,
          app: header(incoming, 'x-kaixu-app'),
          build: header(incoming, 'x-kaixu-build'),
          userAgent: header(incoming, 'user-agent'),
          ip,
          thrown: info.errorCode === 'INTERNAL',
        },
        t0,
        true,
      );
    }
  }

  return (incoming, outgoing, viaApp) => {
    if (incoming.method !== 'POST') return viaApp();
    const route = ROUTES.get(incoming.url!) as FastRoute<unknown> | undefined;
    const h = incoming.headers;
    const declared = h['content-length'];
    if (!route || !isJson(h['content-type']) || declared === undefined || h['transfer-encoding'] !== undefined || Number(declared) > maxBytes) return viaApp();
    const t0 = performance.now();
    // 'request' is emitted at the end of the headers, before the parser has taken the body that
    // came in the same packet; once this tick is over it has, and one synchronous read takes it.
    if (incoming.complete) take(route, incoming, outgoing, viaApp, t0);
    else process.nextTick(take, route, incoming, outgoing, viaApp, t0);
  };

  /** Reads, parses and validates the body, then serves the call, or hands it to the app. */
  function take(route: FastRoute<unknown>, incoming: IncomingMessage, outgoing: ServerResponse, viaApp: () => void, t0: number): void {
    const pending = readBody(incoming, maxBytes);
    pending.then(
      (bytes) => {
        if (bytes === null) return handOver(incoming, pending, viaApp);
        let parsed: unknown;
        try {
          parsed = JSON.parse(utf8Text(bytes));
        } catch {
          return handOver(incoming, pending, viaApp);
        }
        const result = route.accept?.(parsed) ?? route.schema.safeParse(parsed);
        if (!result.success) return handOver(incoming, pending, viaApp);
        serve(route, incoming, outgoing, result.data, t0).catch((e: unknown) => {
          // Only a failure to write the answer itself lands here: nothing more can be sent.
          c.log.error({ err: e, path: incoming.url }, 'fast lane failed');
          outgoing.destroy();
        });
      },
      () => handOver(incoming, pending, viaApp),
    );
  }
}

/** The app serves the request, with the body read so far. */
function handOver(incoming: IncomingMessage, pending: ReturnType<typeof readBody>, viaApp: () => void): void {
  stashBody(incoming, pending);
  viaApp();
}
