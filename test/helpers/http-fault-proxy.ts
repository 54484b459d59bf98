/**
 * An HTTP fault proxy for tests, in front of an S3 server (MinIO):
 *
 *   const proxy = await startHttpFaultProxy({ upstream: 'http://127.0.0.1:9000' });
 *   proxy.failNext(6, { status: 503, code: 'SlowDown' });      // the next 6 requests are throttled
 *   proxy.failFor(3000, { status: 500, code: 'InternalError' }); // every request for 3 s
 *   proxy.failAlways({ status: 500, code: 'InternalError' });  // until clear()
 *   proxy.hangNext(1);                                          // the next request gets no answer at all
 *   proxy.clear();
 *
 * Everything else is forwarded unchanged, Host header included, so SigV4 signatures made for
 * the proxy's address still verify upstream. A faulted request's body is read before the error
 * is sent, as a real server would. `match` limits a fault to some requests (e.g. only PUTs).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';

export interface HttpFault {
  status: number;
  /** S3 error code in the XML body, e.g. SlowDown, InternalError, ServiceUnavailable. */
  code: string;
  message?: string;
  /** Which requests it applies to (default: all). */
  match?: (req: { method: string; url: string }) => boolean;
}

export interface HttpFaultProxyStats {
  requests: number;
  faulted: number;
  forwarded: number;
  /** Faulted requests by "METHOD status". */
  byKind: Record<string, number>;
}

export interface HttpFaultProxy {
  readonly port: number;
  /** http://127.0.0.1:port, to use as the S3 endpoint. */
  readonly endpoint: string;
  readonly stats: HttpFaultProxyStats;
  failNext(n: number, fault: HttpFault): void;
  failFor(ms: number, fault: HttpFault): void;
  failAlways(fault: HttpFault): void;
  /** The next `n` requests (matching `match`) are read and never answered, their connections left open. */
  hangNext(n: number, match?: HttpFault['match']): void;
  /** Requests left hanging so far. */
  readonly hung: number;
  clear(): void;
  close(): Promise<void>;
}

type Rule = { fault: HttpFault; remaining?: number; until?: number };

function s3ErrorXml(code: string, message: string, resource: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${resource}</Resource><RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`;
}

export async function startHttpFaultProxy(opts: { upstream: string; port?: number }): Promise<HttpFaultProxy> {
  const up = new URL(opts.upstream);
  const stats: HttpFaultProxyStats = { requests: 0, faulted: 0, forwarded: 0, byKind: {} };
  let rules: Rule[] = [];
  let hangs: { remaining: number; match?: HttpFault['match'] }[] = [];
  let hung = 0;

  const pick = (method: string, url: string): HttpFault | undefined => {
    const now = Date.now();
    rules = rules.filter((r) => (r.remaining === undefined || r.remaining > 0) && (r.until === undefined || r.until > now));
    for (const r of rules) {
      if (r.fault.match && !r.fault.match({ method, url })) continue;
      if (r.remaining !== undefined) r.remaining--;
      return r.fault;
    }
    return undefined;
  };

  const drain = (req: IncomingMessage): Promise<void> =>
    new Promise((res) => {
      req.on('data', () => {});
      req.on('end', () => res());
      req.on('error', () => res());
    });

  const server: Server = createServer((req, res) => {
    stats.requests++;
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const hang = hangs.find((h) => h.remaining > 0 && (!h.match || h.match({ method, url })));
    if (hang) {
      hang.remaining--;
      hung++;
      void drain(req); // read, never answered: the client's own timeout must end it
      return;
    }
    const fault = pick(method, url);
    if (fault) {
      stats.faulted++;
      const kind = `${method} ${fault.status}`;
      stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
      void drain(req).then(() => {
        const body = method === 'HEAD' ? '' : s3ErrorXml(fault.code, fault.message ?? `injected ${fault.code}`, url);
        res.writeHead(fault.status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
          ...(fault.status === 503 ? { 'retry-after': '1' } : {}),
        });
        res.end(body);
      });
      return;
    }
    stats.forwarded++;
    const fwd = httpRequest({ host: up.hostname, port: Number(up.port || 80), method, path: url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, '127.0.0.1', () => res());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    failNext(n, fault) {
      rules.push({ fault, remaining: n });
    },
    failFor(ms, fault) {
      rules.push({ fault, until: Date.now() + ms });
    },
    failAlways(fault) {
      rules.push({ fault });
    },
    hangNext(n, match) {
      hangs.push({ remaining: n, ...(match ? { match } : {}) });
    },
    get hung() {
      return hung;
    },
    clear() {
      rules = [];
      hangs = [];
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
