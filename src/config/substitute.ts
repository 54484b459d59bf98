/**
 * `${...}` substitution on the raw config text, before YAML parsing (as the reference tool does),
 * with these differences (see docs/configuration.md, "Variables"):
 *
 * - references inside YAML comments are left alone (never looked up, never an error);
 * - an unset variable is an error (the reference tool silently substitutes "");
 * - `${env:NAME}` is an alias of `${NAME}`; `${file:PATH}` inserts a file's content
 *   (trailing newlines removed; relative paths are relative to the config file's directory);
 * - inside a double-quoted ("...") or single-quoted ('...') YAML string the inserted value is
 *   escaped for that kind of string, so secrets containing quotes or backslashes arrive intact;
 *   in plain (unquoted) context the value is inserted verbatim, as in the reference tool;
 * - `$${` is an escape for a literal `${`.
 */
import { Lexer } from 'yaml';
import { isAbsolute, resolve } from 'node:path';

export interface SubstitutionProblem {
  /** 1-based line in the original text. */
  line: number;
  message: string;
}

export interface Splice {
  /** Offset range in the substituted text. */
  outStart: number;
  outEnd: number;
  /** Offset range in the original text. */
  inStart: number;
  inEnd: number;
}

export interface SubstitutionResult {
  text: string;
  problems: SubstitutionProblem[];
  /** Replacements made, in order; used to map offsets of the new text back to the original. */
  splices: Splice[];
}

export interface SubstitutionContext {
  env: NodeJS.ProcessEnv;
  baseDir: string;
  readFile: (path: string) => string;
}

type Region = { start: number; end: number; kind: 'comment' | 'double' | 'single' | 'block' };

const CONTROL = new Set(['\x02', '\x18', '\x1f']);

/** Comment and quoted-string regions of the text, found with the yaml library's lexer. */
function regions(text: string): Region[] {
  const out: Region[] = [];
  let offset = 0;
  let prev = '';
  let blockHeader = false;
  for (const tok of new Lexer().lex(text)) {
    if (CONTROL.has(tok)) {
      prev = tok;
      continue;
    }
    const afterScalarMark = prev === '\x1f';
    const c = tok[0];
    if (!afterScalarMark && (c === '|' || c === '>')) blockHeader = true;
    else if (afterScalarMark && blockHeader) {
      out.push({ start: offset, end: offset + tok.length, kind: 'block' });
      blockHeader = false;
    } else if (c !== '\n' && c !== ' ' && c !== '#' && c !== '\t') blockHeader = false;
    if (!afterScalarMark && c === '#') out.push({ start: offset, end: offset + tok.length, kind: 'comment' });
    else if (!afterScalarMark && c === '"') out.push({ start: offset, end: offset + tok.length, kind: 'double' });
    else if (!afterScalarMark && c === "'") out.push({ start: offset, end: offset + tok.length, kind: 'single' });
    offset += tok.length;
    prev = tok;
  }
  return out;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function escapeDouble(value: string): string {
  let s = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') s += '\\\\';
    else if (ch === '"') s += '\\"';
    else if (ch === '\n') s += '\\n';
    else if (ch === '\r') s += '\\r';
    else if (ch === '\t') s += '\\t';
    else if (code < 0x20 || code === 0x7f) s += `\\x${code.toString(16).padStart(2, '0')}`;
    else s += ch;
  }
  return s;
}

function escapeSingle(value: string): string {
  return value.replaceAll("'", "''");
}

export function substituteVariables(text: string, ctx: SubstitutionContext): SubstitutionResult {
  const problems: SubstitutionProblem[] = [];
  const splices: Splice[] = [];
  if (!text.includes('${')) return { text, problems, splices };
  const regs = regions(text);
  let ri = 0;
  let out = '';
  let last = 0;
  let i = text.indexOf('$');
  while (i !== -1 && i < text.length) {
    // Region containing offset i, if any (regions are sorted and disjoint).
    while (ri < regs.length && (regs[ri]?.end ?? 0) <= i) ri++;
    const reg = regs[ri] !== undefined && (regs[ri]?.start ?? Infinity) <= i ? regs[ri] : undefined;
    if (reg?.kind === 'comment') {
      i = text.indexOf('$', reg.end);
      continue;
    }
    if (text.startsWith('$${', i)) {
      // Escape: `$${` stands for a literal `${`.
      out += text.slice(last, i) + '${';
      splices.push({ outStart: out.length - 2, outEnd: out.length, inStart: i, inEnd: i + 3 });
      last = i + 3;
      i = text.indexOf('$', i + 3);
      continue;
    }
    if (!text.startsWith('${', i)) {
      i = text.indexOf('$', i + 1);
      continue;
    }
    const close = text.indexOf('}', i + 2);
    const newline = text.indexOf('\n', i + 2);
    if (close === -1 || (newline !== -1 && newline < close)) {
      problems.push({ line: lineAt(text, i), message: 'unclosed "${" (write "$${" for a literal "${")' });
      i = text.indexOf('$', i + 2);
      continue;
    }
    const ref = text.slice(i + 2, close);
    const value = resolveReference(ref, ctx, lineAt(text, i), problems);
    const atScalarStart = i === 0 || /\s/.test(text[i - 1] ?? '');
    if (value !== undefined && reg === undefined && (/(^|\s)#|:(\s|$)|[\r\n]/.test(value) || (atScalarStart && /^[&*!|>'"%@`]/.test(value)))) {
      // Inserted verbatim into plain YAML, this value would silently change the file's structure
      // (a comment would cut it, a ": " or line break would create keys). Never echo it: it may be a secret.
      problems.push({ line: lineAt(text, i), message: `the value of \${${ref}} contains YAML-special characters (": ", " #", a line break or a leading indicator such as & * ! | > ' "); put the reference in double quotes: "\${${ref}}"` });
    }
    const inserted = value === undefined ? '' : reg?.kind === 'double' ? escapeDouble(value) : reg?.kind === 'single' ? escapeSingle(value) : value;
    out += text.slice(last, i);
    const outStart = out.length;
    out += inserted;
    splices.push({ outStart, outEnd: out.length, inStart: i, inEnd: close + 1 });
    last = close + 1;
    i = text.indexOf('$', close + 1);
  }
  out += text.slice(last);
  return { text: out, problems, splices };
}

function resolveReference(ref: string, ctx: SubstitutionContext, line: number, problems: SubstitutionProblem[]): string | undefined {
  if (ref.startsWith('file:')) {
    const p = ref.slice('file:'.length).trim();
    if (p === '') {
      problems.push({ line, message: '"${file:}" needs a path' });
      return undefined;
    }
    const full = isAbsolute(p) ? p : resolve(ctx.baseDir, p);
    try {
      return ctx.readFile(full).replace(/(\r?\n)+$/, '');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why = typeof code === 'string' ? code : 'unreadable';
      problems.push({ line, message: `cannot read file referenced by \${file:${p}} (${full}): ${why}` });
      return undefined;
    }
  }
  const name = ref.startsWith('env:') ? ref.slice('env:'.length) : ref;
  if (name === '') {
    problems.push({ line, message: 'empty variable reference "${}"' });
    return undefined;
  }
  const value = ctx.env[name];
  if (value === undefined) {
    const hint = name.includes(':-') || name.includes(':=') ? ' (default values like ${NAME:-x} are not supported)' : '';
    problems.push({ line, message: `environment variable ${name} is not set${hint}` });
    return undefined;
  }
  return value;
}

/** Maps an offset in the substituted text back to an offset in the original text. */
export function originalOffset(splices: readonly Splice[], offset: number): number {
  let delta = 0;
  for (const s of splices) {
    if (offset < s.outStart) break;
    if (offset < s.outEnd) return s.inStart;
    delta = s.inEnd - s.outEnd;
  }
  return offset + delta;
}
