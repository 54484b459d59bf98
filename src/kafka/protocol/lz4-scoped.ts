/**
 * LZ4 frame inflation for callers that only read the output and let it go (the backup's record
 * scan for each batch's timestamps): the frame is inflated into WebAssembly memory and handed to
 * the caller as a view of it, so neither the copy out of wasm memory nor a new buffer per batch is
 * paid (the backup inflates every lz4 batch it stores, for its exact timestamp range; the copies
 * out were about 4 % of its JavaScript thread's time, and 1.4 GB of garbage per 2 GB stored).
 *
 * The codec is @platformatic/kafka's own (the wasm module of @platformatic/wasm-utils, the
 * same code `decompress('lz4', ...)` runs), in an instance of our own so its memory is ours
 * to lend. A trap (a damaged frame panics inside the module) discards the instance: the next
 * call starts from a fresh one rather than from an allocator stopped half way.
 */
import { readFileSync } from 'node:fs';
import { CorruptDataError, errorMessage } from '../../util/errors.js';

// The WebAssembly global without the DOM typings (this project compiles against Node's types only).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
};

interface Lz4Exports {
  memory: { buffer: ArrayBuffer };
  alloc(len: number): number;
  dealloc(ptr: number, len: number): void;
  /** Returns (outputPtr << 32) | outputLength. */
  lz4_decompress(ptr: number, len: number): bigint;
}

let module: object | undefined;
let current: { x: Lz4Exports; inPtr: number; inCap: number } | undefined;

function instance(): { x: Lz4Exports; inPtr: number; inCap: number } {
  if (current) return current;
  module ??= new WebAssembly.Module(readFileSync(new URL('./native.wasm', import.meta.resolve('@platformatic/wasm-utils'))));
  const x = new WebAssembly.Instance(module).exports as unknown as Lz4Exports;
  current = { x, inPtr: 0, inCap: 0 };
  return current;
}

/**
 * Inflates the LZ4 frame `data` and calls `use` with the output, which is valid only during the
 * call (it is wasm memory, freed and reused afterwards: `use` must not keep it or a subarray of it).
 * Throws CorruptDataError for a damaged frame or an output over `maxOutputLength`.
 */
export function withLz4Inflated<T>(data: Uint8Array, maxOutputLength: number, what: string, use: (out: Buffer) => T): T {
  const inst = instance();
  const { x } = inst;
  if (inst.inCap < data.length) {
    if (inst.inCap > 0) x.dealloc(inst.inPtr, inst.inCap);
    inst.inCap = Math.max(data.length, 64 * 1024);
    inst.inPtr = x.alloc(inst.inCap);
  }
  new Uint8Array(x.memory.buffer, inst.inPtr, data.length).set(data);
  let combined: bigint;
  try {
    combined = x.lz4_decompress(inst.inPtr, data.length);
  } catch (err) {
    current = undefined;
    throw new CorruptDataError(`${what}: lz4 decompression failed: ${errorMessage(err)}`, undefined, { codec: 'lz4' });
  }
  const len = Number(BigInt.asUintN(32, combined));
  const ptr = Number(combined >> 32n);
  try {
    if (len > maxOutputLength) throw new CorruptDataError(`${what}: decompressed size ${len} exceeds ${maxOutputLength} bytes`);
    return use(Buffer.from(x.memory.buffer, ptr, len));
  } finally {
    x.dealloc(ptr, len);
  }
}
