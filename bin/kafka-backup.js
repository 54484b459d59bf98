#!/usr/bin/env node
// Runs the compiled CLI (npm run build); falls back to the TypeScript sources through tsx in a checkout.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
