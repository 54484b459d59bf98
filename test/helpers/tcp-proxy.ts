/**
 * A TCP fault proxy for tests (node:net), between the tool and a server:
 *
 *   const proxy = await startTcpProxy({ port, upstream: { host: '127.0.0.1', port: 9092 } });
 *   proxy.cut();       // resets every open connection and refuses new ones (accept + destroy)
 *   proxy.restore();   // connections go through again
 *   proxy.pause();     // black hole: connections are accepted, nothing is forwarded either way
 *   proxy.resume();    // what was held back flows on, in order (nothing is dropped)
 *   await proxy.close();
 *
 * While paused, the proxy stops reading from both sockets, so bytes queue in the kernel and
 * the byte stream stays intact: after resume() the peers see a slow network, not a corrupt one.
 * New connections made while paused are accepted and connected upstream only on resume().
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxyOptions {
  /** Port to listen on (0 = any free port). */
  port?: number;
  host?: string;
  upstream: { host: string; port: number };
}

export interface TcpProxyStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections accepted while cut, closed at once. */
  refused: number;
  /** Client → server and server → client bytes forwarded. */
  bytesUp: number;
  bytesDown: number;
}

export interface TcpProxy {
  readonly port: number;
  /** host:port clients connect to. */
  readonly address: string;
  upstream: { host: string; port: number };
  readonly state: 'open' | 'cut' | 'paused';
  readonly stats: TcpProxyStats;
  /** Open client connections. */
  readonly connections: number;
  cut(): void;
  restore(): void;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server?: Socket;
  connectUpstream(): void;
}

export async function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  const host = opts.host ?? '127.0.0.1';
  let state: 'open' | 'cut' | 'paused' = 'open';
  const pairs = new Set<Pair>();
  const stats: TcpProxyStats = { accepted: 0, refused: 0, bytesUp: 0, bytesDown: 0 };
  let upstream = { ...opts.upstream };

  const destroy = (p: Pair): void => {
    pairs.delete(p);
    // resetAndDestroy sends RST: the peer sees ECONNRESET, like a dropped network path.
    p.client.resetAndDestroy();
    p.server?.resetAndDestroy();
  };

  const server: Server = createServer((client) => {
    stats.accepted++;
    client.on('error', () => {});
    if (state === 'cut') {
      stats.refused++;
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = {
      client,
      connectUpstream() {
        if (pair.server || client.destroyed) return;
        const s = connect({ host: upstream.host, port: upstream.port });
        pair.server = s;
        s.setNoDelay(true);
        s.on('error', () => destroy(pair));
        s.on('close', () => destroy(pair));
        s.on('data', (d: Buffer) => {
          stats.bytesDown += d.length;
          if (!client.write(d)) s.pause();
        });
        client.on('drain', () => {
          if (state !== 'paused') s.resume();
        });
        s.on('drain', () => {
          if (state !== 'paused') client.resume();
        });
        client.on('data', (d: Buffer) => {
          stats.bytesUp += d.length;
          if (!s.write(d)) client.pause();
        });
        client.resume();
      },
    };
    pairs.add(pair);
    client.setNoDelay(true);
    client.pause();
    client.on('close', () => destroy(pair));
    if (state === 'open') pair.connectUpstream();
  });

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, host, () => res());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    port,
    address: `${host}:${port}`,
    get upstream() {
      return upstream;
    },
    set upstream(u: { host: string; port: number }) {
      upstream = { ...u };
    },
    get state() {
      return state;
    },
    stats,
    get connections() {
      return pairs.size;
    },
    cut() {
      state = 'cut';
      for (const p of [...pairs]) destroy(p);
    },
    restore() {
      state = 'open';
    },
    pause() {
      state = 'paused';
      for (const p of pairs) {
        p.client.pause();
        p.server?.pause();
      }
    },
    resume() {
      state = 'open';
      for (const p of [...pairs]) {
        if (!p.server) p.connectUpstream();
        else {
          p.client.resume();
          p.server.resume();
        }
      }
    },
    async close() {
      state = 'cut';
      for (const p of [...pairs]) destroy(p);
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
