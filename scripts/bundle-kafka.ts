/**
 * Build step after tsc (`npm run build`): replaces dist/src/kafka/lib.js, which re-exports the symbols we use
 * from @platformatic/kafka, with an esbuild bundle of only those symbols. Two costs of the library's root
 * module go away: loading its 328 modules (and ajv's, zod's… 660 files in all), and compiling every client's
 * ajv option schemas at import (`export const xValidator = ajv.compile(schema)` in clients/<client>/options.js),
 * which made about 0.4 of the 0.6 CPU s of `kafka-backup --version`. The validators become functions that
 * compile their schema on first call, so a command pays only for the options it validates.
 * Packages with native code or files next to their code (wasm) stay external and load from node_modules.
 */
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

/** Resolved at run time from node_modules: native binaries, wasm files, an optional dependency. */
export const EXTERNAL = ['@node-rs/crc32', '@platformatic/wasm-utils', 'protobufjs'];

const OPTIONS_FILE = /@platformatic[\\/]kafka[\\/]dist[\\/]clients[\\/][a-z]+[\\/]options\.js$/;
const COMPILE_CALL = /\bajv\.compile\(/g;

/** A validator with ajv's calling convention (`v(data)`, then `v.errors`) that compiles its schema on first call. */
const LAZY_COMPILE = `
function __lazyCompile(ajv, schema) {
  let compiled;
  const validate = (data) => {
    compiled ??= ajv.compile(schema);
    const ok = compiled(data);
    validate.errors = compiled.errors;
    return ok;
  };
  validate.errors = null;
  return validate;
}
`;

/** Rewrites `ajv.compile(schema)` at the top level of the library's options modules into lazy validators. */
export function lazyValidators(): Plugin {
  return {
    name: 'lazy-ajv-validators',
    setup(b) {
      b.onLoad({ filter: OPTIONS_FILE }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('ajv.compile(')) {
          throw new Error(`${args.path}: no ajv.compile( call; @platformatic/kafka changed, update scripts/bundle-kafka.ts`);
        }
        return { contents: source.replace(COMPILE_CALL, '__lazyCompile(ajv, ') + LAZY_COMPILE, loader: 'js' };
      });
    },
  };
}

/** Bundles the ES module `entry` (re-exports of @platformatic/kafka) into `outfile`. */
export async function bundleKafka(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // Error classes keep their names (esbuild renames clashing ones: UserError → _UserError).
    keepNames: true,
    external: EXTERNAL,
    plugins: [lazyValidators()],
    // The library's CommonJS dependencies (ajv, debug, avsc…) call require(); an ES module has none.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const lib = join(process.cwd(), 'dist', 'src', 'kafka', 'lib.js');
  await bundleKafka(lib, `${lib}.bundle`);
  await rename(`${lib}.bundle`, lib);
}
