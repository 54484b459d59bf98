import { readFile } from 'node:fs/promises';
import { ConfigError } from '../util/errors.js';

/** A config file's text, or a one-line ConfigError naming the file (`what`: "config", "validation config") and why. */
export async function readConfigFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String(code ?? 'unreadable');
    throw new ConfigError(`cannot read ${what} file ${path}: ${why}`, undefined, { file: path });
  }
}
