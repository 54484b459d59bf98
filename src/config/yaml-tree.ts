/**
 * YAML text -> plain JS values, keeping what the schema needs and `toJS()` loses:
 * the source text of plain scalars that resolved to numbers/booleans (so that `backup_id: 007`
 * stays "007"), whether a map key was an unquoted integer (partition maps), the `!specific` tag,
 * and the line of every key/value for error messages.
 */
import type { Secret } from './substitute.js';
import { type Alias, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node, type ParsedNode } from 'yaml';

/** A plain (unquoted) scalar that the YAML core schema resolved to a number or boolean. */
export class PlainScalar {
  constructor(
    readonly value: number | boolean,
    readonly source: string,
  ) {}
}

/** A mapping node carrying the `!specific` tag. */
export class SpecificTagged {
  constructor(readonly value: unknown) {}
}

export type KeyKind = 'int' | 'string' | 'other';

/** How each key of a converted mapping was written (module-level so schemas can consult it). */
export const keyKindsOf = new WeakMap<object, ReadonlyMap<string, KeyKind>>();

export interface TreeProblem {
  path: (string | number)[];
  /** Offset in the parsed (substituted) text. */
  offset?: number;
  message: string;
}

export interface Tree {
  value: unknown;
  problems: TreeProblem[];
  /** Dotted path -> offset of the key (for maps) or the value. */
  offsets: Map<string, number>;
  lineCounter: LineCounter;
  /** Dotted path -> what the value there, substituted from `${...}`, must not show in messages. */
  secrets: Map<string, Secret>;
}

/** Runs on the parsed document before conversion (`${...}` substitution); returns problems and the substituted nodes. */
export type DocumentHook = (doc: Document.Parsed) => { problems: { offset?: number; message: string }[]; secrets: WeakMap<Node, Secret> };

export function pathString(path: readonly (string | number | symbol)[]): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else s += s === '' ? String(seg) : `.${String(seg)}`;
  }
  return s;
}

const MAX_NODES = 100_000;
const MAX_DEPTH = 64;

/** Sets an own enumerable property, safe for keys like `__proto__`. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function firstLine(message: string): string {
  const cut = message.search(/ at line \d+, column \d+/);
  const s = cut === -1 ? (message.split('\n')[0] ?? message) : message.slice(0, cut);
  return s.trim();
}

export function parseYamlTree(text: string, hook?: DocumentHook): Tree {
  const lineCounter = new LineCounter();
  const problems: TreeProblem[] = [];
  const offsets = new Map<string, number>();
  const secrets = new Map<string, Secret>();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, {
      schema: 'core',
      version: '1.2',
      uniqueKeys: true,
      merge: false,
      prettyErrors: false,
      lineCounter,
      strict: true,
      stringKeys: false,
    });
  } catch (err) {
    problems.push({ path: [], message: `YAML parse failure: ${firstLine(err instanceof Error ? err.message : String(err))}` });
    return { value: undefined, problems, offsets, lineCounter, secrets };
  }
  for (const e of doc.errors) {
    problems.push({ path: [], offset: e.pos[0], message: `invalid YAML: ${firstLine(e.message)}` });
  }
  for (const w of doc.warnings) {
    if (w.code === 'TAG_RESOLVE_FAILED') continue; // handled per node below
    problems.push({ path: [], offset: w.pos[0], message: `invalid YAML: ${firstLine(w.message)}` });
  }
  if (doc.errors.length > 0) return { value: undefined, problems, offsets, lineCounter, secrets };
  let marks: WeakMap<Node, Secret> | undefined;
  if (hook) {
    const h = hook(doc);
    for (const p of h.problems) problems.push({ path: [], offset: p.offset, message: p.message });
    if (h.problems.length > 0) return { value: undefined, problems, offsets, lineCounter, secrets };
    marks = h.secrets;
  }

  let nodes = 0;
  const convert = (node: Node | ParsedNode | null | undefined, path: (string | number)[], depth: number, aliasDepth: number): unknown => {
    if (++nodes > MAX_NODES) throw new TooBig();
    if (depth > MAX_DEPTH) throw new TooBig();
    if (node === null || node === undefined) return null;
    const here = pathString(path);
    if (!offsets.has(here) && node.range) offsets.set(here, node.range[0]);
    const secret = marks?.get(node);
    if (secret !== undefined) secrets.set(here, secret);
    if (isAlias(node)) {
      if (aliasDepth > 16) throw new TooBig();
      const target = (node as Alias).resolve(doc);
      if (!target) {
        problems.push({ path, offset: node.range?.[0], message: `unknown YAML alias *${(node as Alias).source}` });
        return null;
      }
      return convert(target as Node, path, depth + 1, aliasDepth + 1);
    }
    const tag = node.tag;
    let specific = false;
    if (tag !== undefined && !tag.startsWith('tag:yaml.org,2002:')) {
      if (tag === '!specific' && isMap(node)) specific = true;
      else {
        problems.push({
          path,
          offset: node.range?.[0],
          message: `unsupported YAML tag ${tag}${tag === '!specific' ? ' (it must tag a mapping: !specific {topic: {partition: offset}})' : ''}`,
        });
        return null;
      }
    }
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'string' || v === null) return v;
      if (typeof v === 'number' || typeof v === 'boolean') {
        if (node.type === Scalar.PLAIN || node.type === undefined) return new PlainScalar(v, node.source === undefined ? String(v) : String(node.source));
        return v;
      }
      if (typeof v === 'bigint') return new PlainScalar(Number(v), String(v));
      return String(v);
    }
    if (isSeq(node)) {
      return node.items.map((item, i) => convert(item as Node, [...path, i], depth + 1, aliasDepth));
    }
    if (isMap(node)) {
      const obj: Record<string, unknown> = {};
      const kinds = new Map<string, KeyKind>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        let key: string;
        let kind: KeyKind;
        if (isScalar(keyNode)) {
          const kv = keyNode.value;
          if (typeof kv === 'string') {
            key = kv;
            kind = 'string';
          } else if (typeof kv === 'number' && Number.isInteger(kv) && (keyNode.type === Scalar.PLAIN || keyNode.type === undefined)) {
            key = String(kv);
            kind = 'int';
          } else if (kv === null || kv === undefined) {
            problems.push({ path, offset: keyNode.range?.[0], message: 'a mapping key is empty (null)' });
            continue;
          } else {
            key = keyNode.source !== undefined ? String(keyNode.source) : String(kv);
            kind = 'other';
          }
        } else if (isAlias(keyNode)) {
          problems.push({ path, offset: keyNode.range?.[0], message: 'aliases are not supported as mapping keys' });
          continue;
        } else {
          problems.push({ path, offset: keyNode?.range?.[0], message: 'mapping keys must be plain scalars, not lists or mappings' });
          continue;
        }
        if (Object.hasOwn(obj, key)) {
          problems.push({ path: [...path, key], offset: keyNode.range?.[0], message: 'duplicate key' });
          continue;
        }
        const childPath = [...path, key];
        if (keyNode.range) offsets.set(pathString(childPath), keyNode.range[0]);
        setOwn(obj, key, convert(pair.value as Node | null, childPath, depth + 1, aliasDepth));
        kinds.set(key, kind);
      }
      keyKindsOf.set(obj, kinds);
      return specific ? new SpecificTagged(obj) : obj;
    }
    return null;
  };

  let value: unknown;
  try {
    value = convert(doc.contents as Node | null, [], 0, 0);
  } catch (err) {
    if (!(err instanceof TooBig)) throw err;
    problems.push({ path: [], message: 'the YAML document is too large or too deeply nested (alias expansion?)' });
    value = undefined;
  }
  return { value, problems, offsets, lineCounter, secrets };
}

class TooBig extends Error {}
