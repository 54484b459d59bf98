#!/usr/bin/env node
// Runs the compiled CLI (an installed package, or a checkout after `npm run build`); falls back to the
// TypeScript sources through tsx in a checkout. Plain JavaScript with dynamic imports, so that an old
// Node reaches the version check below instead of failing on syntax or a missing API.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(`error: kafka-backup needs Node.js 22.22 or newer; this is ${process.version} (${process.execPath})\n`);
  process.exit(1);
}

const compiled = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
let mod;
if (existsSync(compiled)) {
  mod = await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import('../src/cli/main.ts');
}
process.exitCode = await mod.main(process.argv);
