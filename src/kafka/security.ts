import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TLSConnectionOptions } from 'node:tls';
import type { ConnectionOptions, SASLOptions } from './lib.js';
import { UserError } from '../util/errors.js';
import { oidcTokenProvider } from './oauth.js';

/** The `source.security` / `target.security` block, normalised by the config loader. */
export interface KafkaSecurity {
  security_protocol?: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  sasl_mechanism?: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'GSSAPI' | 'OAUTHBEARER';
  sasl_username?: string;
  sasl_password?: string;
  /** OAUTHBEARER (OIDC client credentials): src/kafka/oauth.ts. */
  sasl_oauthbearer_token_endpoint_url?: string;
  sasl_oauthbearer_client_id?: string;
  sasl_oauthbearer_client_secret?: string;
  sasl_oauthbearer_scope?: string;
  ssl_ca_location?: string;
  ssl_certificate_location?: string;
  ssl_key_location?: string;
  ssl_key_password?: string;
}

export interface KafkaConnectionSettings {
  bootstrapServers: string[];
  security?: KafkaSecurity;
  clientId?: string;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** `source.connection` / `target.connection`: applied to each broker socket we open (fetch, produce). */
  socket?: SocketTuning;
  /** Connections per broker for fetching, and for producing (connection.connections_per_broker; default 4). */
  connectionsPerBroker?: number;
}

export interface SocketTuning {
  noDelay: boolean;
  keepAlive: boolean;
  /** Idle time before the first keepalive probe (the probe interval is the OS default: Node.js cannot set it). */
  keepAliveDelayMs: number;
}

const socketTunings = new WeakMap<ConnectionOptions, SocketTuning>();

/** The socket tuning that `connectionOptions` attached to these options, for BrokerConnection.open. */
export function socketTuningOf(opts: ConnectionOptions): SocketTuning | undefined {
  return socketTunings.get(opts);
}

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UserError('CONFIG', `${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { key, path });
  }
}

/**
 * The warning for SASL PLAIN without TLS (undefined otherwise): PLAIN sends the user name and the
 * password as they are, so on SASL_PLAINTEXT anyone on the path reads them. `where` names the
 * setting (`source.security`, `--security-protocol`).
 */
export function plaintextPasswordWarning(where: string, sec: KafkaSecurity): string | undefined {
  if (sec.security_protocol !== 'SASL_PLAINTEXT' || sec.sasl_mechanism !== 'PLAIN') return undefined;
  return `${where}: SASL PLAIN over SASL_PLAINTEXT sends the user name and password UNENCRYPTED to every broker (anyone on the network path can read them); use SASL_SSL, or SCRAM-SHA-256 / SCRAM-SHA-512 (which never send the password)`;
}

/** Translate our security block into @platformatic/kafka connection options (TLS and SASL). */
export function connectionOptions(s: KafkaConnectionSettings): ConnectionOptions {
  const sec = s.security ?? {};
  const protocol = sec.security_protocol ?? 'PLAINTEXT';
  const opts: ConnectionOptions = {
    connectTimeout: s.connectTimeoutMs ?? 10_000,
    requestTimeout: s.requestTimeoutMs ?? 30_000,
    maxInflights: 64,
  };
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    const tls: TLSConnectionOptions = { rejectUnauthorized: true };
    if (sec.ssl_ca_location) tls.ca = readPem(sec.ssl_ca_location, 'security.ssl_ca_location');
    if (sec.ssl_certificate_location || sec.ssl_key_location) {
      if (!sec.ssl_certificate_location || !sec.ssl_key_location) {
        throw new UserError('CONFIG', 'security: mutual TLS needs both ssl_certificate_location and ssl_key_location');
      }
      tls.cert = readPem(sec.ssl_certificate_location, 'security.ssl_certificate_location');
      tls.key = readPem(sec.ssl_key_location, 'security.ssl_key_location');
      if (sec.ssl_key_password) tls.passphrase = sec.ssl_key_password;
    }
    opts.tls = tls;
    opts.tlsServerName = true;
  }
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    // The config loader and the CLI flags always set it; never guess one here (a guessed PLAIN sends the password).
    const mechanism = sec.sasl_mechanism;
    if (mechanism === undefined)
      throw new UserError('CONFIG', `security.sasl_mechanism is required with security_protocol ${protocol}: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`);
    if (mechanism === 'GSSAPI') {
      throw new UserError('CONFIG', 'security.sasl_mechanism: GSSAPI (Kerberos) is not supported yet; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512');
    }
    if (mechanism === 'OAUTHBEARER') {
      opts.sasl = oauthBearer(sec);
    } else {
      const sasl: SASLOptions = { mechanism, username: sec.sasl_username ?? '', password: sec.sasl_password ?? '' };
      opts.sasl = sasl;
    }
  }
  if (s.socket) socketTunings.set(opts, s.socket);
  return opts;
}

/** SASL/OAUTHBEARER with a token from the OIDC endpoint, fetched (and renewed) as connections authenticate. */
function oauthBearer(sec: KafkaSecurity): SASLOptions {
  const url = sec.sasl_oauthbearer_token_endpoint_url;
  const clientId = sec.sasl_oauthbearer_client_id;
  const clientSecret = sec.sasl_oauthbearer_client_secret;
  if (!url || !clientId || clientSecret === undefined) {
    throw new UserError(
      'CONFIG',
      'security.sasl_mechanism OAUTHBEARER needs sasl_oauthbearer_token_endpoint_url, sasl_oauthbearer_client_id and sasl_oauthbearer_client_secret',
    );
  }
  const provider = oidcTokenProvider({
    tokenEndpointUrl: url,
    clientId,
    clientSecret,
    ...(sec.sasl_oauthbearer_scope ? { scope: sec.sasl_oauthbearer_scope } : {}),
  });
  return { mechanism: 'OAUTHBEARER', token: () => provider.token() };
}

export function parseHostPort(server: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(server.trim());
  if (!m?.[1] || !m[2] || Number(m[2]) > 65535) {
    throw new UserError('CONFIG', `bootstrap_servers: "${server}" is not host:port (for example kafka-0.example.com:9092)`, { server });
  }
  return { host: m[1], port: Number(m[2]) };
}
