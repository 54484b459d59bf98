import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { humanDestination } from './log-format.js';

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

export interface LogOutput {
  /** 'text': human lines (log-format.ts); 'json': one JSON object a line. Default json. */
  format?: 'text' | 'json';
  /** Only warnings and errors (`--quiet`); LOG_LEVEL still wins. */
  quiet?: boolean;
  /** Colour the level in text lines. */
  color?: boolean;
}

/** Logs go to stderr so that stdout carries only reports (text/json/yaml) for scripts. */
export function configureLogger(verbosity: number, out: LogOutput = {}): Logger {
  const opts = options(verbosity);
  if (out.quiet && !process.env.LOG_LEVEL) opts.level = 'warn';
  const dest: DestinationStream = out.format === 'text' ? humanDestination(2, out.color === true) : pino.destination(2);
  root = pino(opts, dest);
  children.clear();
  return root;
}

/** Each module's child of the current root; emptied when the root is replaced. */
const children = new Map<string, Logger>();

function childOf(module: string): Logger {
  let c = children.get(module);
  if (!c) {
    c = root.child({ module });
    children.set(module, c);
  }
  return c;
}

/**
 * The logger of `module`. Modules take it once, at load time, before the CLI has read -v,
 * --quiet and --log-format: so it is a stand-in that always speaks through the current root's
 * child, and configureLogger reaches every module.
 */
export function logger(module?: string): Logger {
  if (!module) return root;
  return new Proxy(childOf(module), {
    get(_target, prop) {
      const c = childOf(module);
      const v = Reflect.get(c, prop, c) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(c) : v;
    },
    set(_target, prop, value) {
      return Reflect.set(childOf(module), prop, value);
    },
  });
}
