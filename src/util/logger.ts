import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** 0 = info, 1 (-v) = debug, 2+ (-vv) = trace. LOG_LEVEL overrides. */
export function levelFromVerbosity(verbosity: number): string {
  if (process.env.LOG_LEVEL) return process.env.LOG_LEVEL;
  return verbosity >= 2 ? 'trace' : verbosity === 1 ? 'debug' : 'info';
}

/**
 * Names of fields whose values are secrets, at any depth of a logged object: passwords, secret
 * keys, tokens, account keys, connection strings, inline service-account JSON, private keys.
 * (pino's `redact` paths only reach fixed depths; a config logged one level deeper would leak.)
 */
const SECRET_FIELD = /pass(word|phrase)?$|secret|token|account_?key|connection_?string|service_?account_?json|private_?key|^credentials?$|^authorization$/i;
const CENSOR = '[redacted]';

/** A copy of `v` with every secret-named field censored (plain objects and arrays only; errors and buffers as they are). */
export function redactSecretFields(v: unknown, depth = 0): unknown {
  if (depth > 10 || v === null || typeof v !== 'object' || v instanceof Error || Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => redactSecretFields(x, depth + 1));
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const value = SECRET_FIELD.test(k) && val !== undefined && val !== null ? CENSOR : redactSecretFields(val, depth + 1);
    Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function options(verbosity: number): LoggerOptions {
  return {
    level: levelFromVerbosity(verbosity),
    base: undefined,
    redact: { paths: ['*.password', '*.sasl_password', '*.secret_key', '*.account_key', '*.ssl_key_password'], censor: CENSOR },
    formatters: { log: (obj) => redactSecretFields(obj) as Record<string, unknown> },
  };
}

let root: Logger = pino(options(0), pino.destination(2));

/** Logs go to stderr so that stdout carries only reports (text/json/yaml) for scripts. */
export function configureLogger(verbosity: number): Logger {
  root = pino(options(verbosity), pino.destination(2));
  return root;
}

export function logger(module?: string): Logger {
  return module ? root.child({ module }) : root;
}
