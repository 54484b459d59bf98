/** The configuration layer: load, validate and normalise the main YAML config file. */
export { loadConfig, parseConfigText, ConfigFileError } from './load.js';
export { storageSpecFromConfig } from './storage.js';
export { redactConfig, REDACTED } from './redact.js';
export { parseIsoTimestamp, SECONDS_THRESHOLD } from './values.js';
export type * from './types.js';
