import { pino, type Logger } from 'pino';

export type { Logger };

/** 0 = info, 1 (-v) = debug, 2+ (-vv) = trace. LOG_LEVEL overrides. */
export function levelFromVerbosity(verbosity: number): string {
  if (process.env.LOG_LEVEL) return process.env.LOG_LEVEL;
  return verbosity >= 2 ? 'trace' : verbosity === 1 ? 'debug' : 'info';
}

let root: Logger = pino({ level: levelFromVerbosity(0), base: undefined }, pino.destination(2));

/** Logs go to stderr so that stdout carries only reports (text/json/yaml) for scripts. */
export function configureLogger(verbosity: number): Logger {
  root = pino({ level: levelFromVerbosity(verbosity), base: undefined, redact: { paths: ['*.password', '*.sasl_password', '*.secret_key', '*.account_key', '*.ssl_key_password'], censor: '[redacted]' } }, pino.destination(2));
  return root;
}

export function logger(module?: string): Logger {
  return module ? root.child({ module }) : root;
}
