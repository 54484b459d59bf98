import { Connection, type API, type Callback, type ConnectionOptions, type ResponseParser, type Writer } from './lib.js';
import { isIP } from 'node:net';
import { BrokerUnreachableError, KafkaError } from '../util/errors.js';
import { socketTuningOf } from './security.js';

/** The most specific reason in an error's cause/errors chain ("Connection to x failed." says nothing). */
function connectFailureDetail(err: unknown): string {
  const parts: string[] = [];
  let e = err as (Error & { cause?: unknown; errors?: unknown[] }) | undefined;
  for (let i = 0; e && i < 6; i++) {
    const m = e.message?.replace(/\.$/, '');
    if (m && !parts.includes(m)) parts.push(m);
    e = (e.cause ?? e.errors?.[0]) as typeof e;
  }
  // Outermost is "Connection to host:port failed."; the reason is further down.
  return parts.length > 1 ? parts.slice(1).join(': ') : (parts[0] ?? String(err));
}

/**
 * One TCP (or TLS) connection to one broker, with SASL done on connect.
 * A thin promise wrapper over @platformatic/kafka's Connection: it owns framing,
 * correlation ids, SASL and TLS; we own the request and response bodies.
 */
export class BrokerConnection {
  readonly host: string;
  readonly port: number;
  readonly #conn: Connection;

  private constructor(host: string, port: number, conn: Connection) {
    this.host = host;
    this.port = port;
    this.#conn = conn;
  }

  static async open(host: string, port: number, opts: ConnectionOptions, clientId = 'kafka-backup'): Promise<BrokerConnection> {
    // An IP address is not a valid TLS server name (RFC 6066; node warns): verify against the IP instead.
    const conn = new Connection(clientId, opts.tls && isIP(host) ? { ...opts, tlsServerName: false } : opts);
    conn.on('error', () => {}); // surfaced through the pending request callbacks
    try {
      await conn.connect(host, port);
    } catch (err) {
      await conn.close().catch(() => {});
      const cause = err as Error & { code?: string; errors?: Error[] };
      const detail = connectFailureDetail(err);
      if (/auth|sasl/i.test(`${cause.name} ${detail}`)) {
        throw new BrokerUnreachableError(`authentication to Kafka broker ${host}:${port} failed: ${detail}`, { host, port }, { cause: err });
      }
      throw new BrokerUnreachableError(`cannot connect to Kafka broker ${host}:${port}: ${detail}`, { host, port }, { cause: err });
    }
    const tuning = socketTuningOf(opts);
    if (tuning) {
      conn.socket.setNoDelay(tuning.noDelay);
      conn.socket.setKeepAlive(tuning.keepAlive, tuning.keepAliveDelayMs);
    }
    return new BrokerConnection(host, port, conn);
  }

  get connected(): boolean {
    return this.#conn.isConnected();
  }

  /** A request whose body we build and parse ourselves (flexible versions: tagged header fields). */
  send<T>(apiKey: number, apiVersion: number, build: () => Writer, parse: ResponseParser<T>, flexible = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cb: Callback<T> = (err, res) => {
        if (err) reject(wrapError(err, this.host, this.port, apiKey));
        else resolve(res as T);
      };
      this.#conn.send(apiKey, apiVersion, build, parse, flexible, flexible, cb);
    });
  }

  /** A request through one of @platformatic/kafka's per-version API modules. */
  call<A extends unknown[], R>(api: API<A, R>, ...args: A): Promise<R> {
    return api.async(this.#conn, ...args).catch((err: unknown) => {
      throw wrapError(err, this.host, this.port, api.key);
    });
  }

  async close(): Promise<void> {
    await this.#conn.close().catch(() => {});
  }
}

/** Names of the APIs we call, for error messages. */
const API_NAMES: Record<number, string> = { 0: 'Produce', 1: 'Fetch', 2: 'ListOffsets', 3: 'Metadata', 22: 'InitProducerId' };

function wrapError(err: unknown, host: string, port: number, apiKey: number): Error {
  if (err instanceof KafkaError) return err;
  const e = err as Error & { errors?: { apiCode?: number; code?: string; message?: string }[] };
  const inner = e.errors?.[0];
  const detail = inner?.message ?? e.message;
  const api = API_NAMES[apiKey] ? `${API_NAMES[apiKey]} (api ${apiKey})` : `api ${apiKey}`;
  // A silent broker: say so, rather than only the library's "Request timed out".
  const what = /request timed out/i.test(detail) ? `the broker did not answer within the request timeout (${detail})` : detail;
  return new KafkaError(`${host}:${port} ${api}: ${what}`, inner?.apiCode, { host, port, apiKey }, { cause: err });
}
