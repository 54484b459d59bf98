/**
 * `${...}` substitution (see docs/configuration.md, "Variables").
 *
 * Values are substituted into the *parsed* scalars, never into the YAML text, so that no value from
 * the environment or a file can change the document's structure (add a key, end a block scalar,
 * close a flow mapping): the text is parsed with every reference replaced by an inert placeholder
 * (`prepareSubstitution`), then each scalar holding placeholders gets the values
 * (`substituteInDocument`). Differences from the reference tool, which substituted into the text:
 *
 * - references inside YAML comments are left alone (never looked up, never an error);
 * - an unset variable is an error (the reference tool silently substitutes "");
 * - `${env:NAME}` is an alias of `${NAME}`; `${file:PATH}` inserts a file's content
 *   (trailing newlines removed; relative paths are relative to the config file's directory);
 * - a value arrives intact whatever it contains (quotes, `: `, ` #`, line breaks, indicators);
 * - an unquoted scalar whose substituted text reads as a number, boolean or null gets that type
 *   (`port: ${PORT}`), and an unquoted value that is exactly one reference may supply a flow list
 *   of plain values (`bootstrap_servers: ${BROKERS}` with `BROKERS=[a:9092, b:9092]`);
 * - references in mapping keys, tags and anchors are refused;
 * - `$${` is an escape for a literal `${`.
 *
 * Substituted values may be secrets: `redactSecrets` takes them out of error messages.
 */
import { randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { isScalar, Lexer, parseDocument, Scalar, visit, YAMLSeq, type Document, type Node, type ParseOptions, type ScalarTag } from 'yaml';

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

export interface SubstitutionContext {
  env: NodeJS.ProcessEnv;
  baseDir: string;
  readFile: (path: string) => string;
}

/** One `${...}` reference (ref undefined: the `$${` escape, standing for a literal `${`). */
interface Reference {
  ref: string | undefined;
  /** The resolved value; undefined when resolution failed (already reported as a problem). */
  value: string | undefined;
  /** 1-based line in the original text. */
  line: number;
}

export interface PreparedText {
  /** The text with each reference replaced by a placeholder; this is what gets parsed. */
  text: string;
  problems: SubstitutionProblem[];
  /** Replacements made, in order; used to map offsets of the new text back to the original. */
  splices: Splice[];
  refs: Reference[];
  /** Matches a placeholder; group 1 is the index into `refs`. */
  placeholder: RegExp;
}

/** What a substituted value must not show in messages: the references it came from and its renderings. */
export interface Secret {
  refs: string[];
  forms: string[];
}

export interface DocumentProblem {
  offset?: number;
  message: string;
}

/** Comment regions of the text, found with the yaml library's lexer. */
function commentRegions(text: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let offset = 0;
  let prev = '';
  for (const tok of new Lexer().lex(text)) {
    if (tok === '\x02' || tok === '\x18' || tok === '\x1f') {
      prev = tok;
      continue;
    }
    if (prev !== '\x1f' && tok[0] === '#') out.push({ start: offset, end: offset + tok.length });
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

/** End offset (exclusive) of the reference starting at `i`, or -1 when it is not closed on its line. */
function referenceEnd(text: string, i: number): number {
  const close = text.indexOf('}', i + 2);
  const newline = text.indexOf('\n', i + 2);
  return close === -1 || (newline !== -1 && newline < close) ? -1 : close + 1;
}

/**
 * Replaces every reference outside comments with a placeholder made of letters and digits only
 * (inert in any YAML context) and resolves the references.
 */
export function prepareSubstitution(text: string, ctx: SubstitutionContext): PreparedText {
  const problems: SubstitutionProblem[] = [];
  const splices: Splice[] = [];
  const refs: Reference[] = [];
  let nonce: string;
  do nonce = `kbv${randomBytes(6).toString('hex')}q`;
  while (text.includes(nonce));
  const placeholder = new RegExp(`${nonce}(\\d+)x`, 'g');
  if (!text.includes('${')) return { text, problems, splices, refs, placeholder };

  // The lexer sees each closed reference as a plain word, so that `{`/`}` do not confuse it.
  let masked = text;
  for (let i = text.indexOf('${'); i !== -1; i = text.indexOf('${', i + 2)) {
    const end = referenceEnd(text, i);
    if (end !== -1) masked = masked.slice(0, i) + 'x'.repeat(end - i) + masked.slice(end);
  }
  const comments = commentRegions(masked);
  let ci = 0;
  let out = '';
  let last = 0;
  let i = text.indexOf('$');
  const emit = (start: number, end: number, r: Reference) => {
    out += text.slice(last, start);
    const outStart = out.length;
    out += `${nonce}${refs.length}x`;
    refs.push(r);
    splices.push({ outStart, outEnd: out.length, inStart: start, inEnd: end });
    last = end;
  };
  while (i !== -1 && i < text.length) {
    while (ci < comments.length && (comments[ci]?.end ?? 0) <= i) ci++;
    const comment = comments[ci] !== undefined && (comments[ci]?.start ?? Infinity) <= i ? comments[ci] : undefined;
    if (comment !== undefined) {
      i = text.indexOf('$', comment.end);
      continue;
    }
    if (text.startsWith('$${', i)) {
      emit(i, i + 3, { ref: undefined, value: '${', line: lineAt(text, i) });
      i = text.indexOf('$', i + 3);
      continue;
    }
    if (!text.startsWith('${', i)) {
      i = text.indexOf('$', i + 1);
      continue;
    }
    const end = referenceEnd(text, i);
    if (end === -1) {
      problems.push({ line: lineAt(text, i), message: 'unclosed "${" (write "$${" for a literal "${")' });
      i = text.indexOf('$', i + 2);
      continue;
    }
    const ref = text.slice(i + 2, end - 1);
    const line = lineAt(text, i);
    emit(i, end, { ref, value: resolveReference(ref, ctx, line, problems), line });
    i = text.indexOf('$', end);
  }
  out += text.slice(last);
  return { text: out, problems, splices, refs, placeholder };
}

/** The type an unquoted scalar with this text gets under the document's schema (number, boolean, null or string). */
function resolvePlain(doc: Document.Parsed, text: string): unknown {
  const tag = doc.schema.tags.find((t): t is ScalarTag => t.default === true && 'test' in t && t.test instanceof RegExp && t.test.test(text));
  if (tag === undefined) return text;
  let failed = false;
  const v = tag.resolve(text, () => (failed = true), doc.options as ParseOptions);
  if (failed) return text;
  return isScalar(v) ? v.value : v; // the bool tag wraps its result in a Scalar
}

/** A value that is a flow list of plain values (`[a:1, b:2]`), as a sequence node; undefined otherwise. */
function flowList(value: string, range: Node['range']): YAMLSeq | undefined {
  const t = value.trim();
  if (!t.startsWith('[') || !t.endsWith(']')) return undefined;
  const d = parseDocument(t, { schema: 'core', version: '1.2', strict: true, uniqueKeys: true, merge: false });
  const c = d.contents;
  if (d.errors.length > 0 || !(c instanceof YAMLSeq) || !c.flow) return undefined;
  const seq = new YAMLSeq();
  seq.flow = true;
  seq.range = range;
  for (const item of c.items) {
    if (!isScalar(item) || item.tag !== undefined || item.anchor !== undefined) return undefined;
    const s = new Scalar(item.value);
    s.type = item.type;
    if (item.source !== undefined) s.source = item.source;
    s.range = range;
    seq.items.push(s);
  }
  return seq;
}

/**
 * Puts the values of `prepared`'s references into the scalars of `doc` (parsed from `prepared.text`).
 * Returns problems (a reference in a key, tag or anchor) and the substituted nodes with what they must not show.
 */
export function substituteInDocument(doc: Document.Parsed, prepared: PreparedText): { problems: DocumentProblem[]; secrets: WeakMap<Node, Secret> } {
  const problems: DocumentProblem[] = [];
  const secrets = new WeakMap<Node, Secret>();
  if (prepared.refs.length === 0) return { problems, secrets };
  const used = new Set<number>();
  const inserted = new WeakSet<Node>();
  const fill = (s: string, refsOnly: boolean): { text: string; secret: Secret; whole: Reference | undefined } => {
    const secret: Secret = { refs: [], forms: [] };
    let whole: Reference | undefined;
    const text = s.replace(prepared.placeholder, (m, n: string, at: number) => {
      const idx = Number(n);
      const r = prepared.refs[idx];
      if (r === undefined || (refsOnly && r.ref !== undefined)) return m;
      used.add(idx);
      if (r.ref !== undefined) {
        secret.refs.push(r.ref);
        if (r.value !== undefined && r.value !== '') secret.forms.push(r.value);
        if (at === 0 && m.length === s.length) whole = r;
      }
      return r.value ?? '';
    });
    if (secret.refs.length > 0 && text !== '') secret.forms.push(text);
    return { text, secret, whole };
  };
  visit(doc, {
    Scalar(key, node) {
      if (inserted.has(node) || typeof node.value !== 'string') return undefined;
      prepared.placeholder.lastIndex = 0;
      if (!prepared.placeholder.test(node.value)) return undefined;
      // Keys: a reference would let a value choose or add a key; only the `$${` escape is allowed.
      const { text, secret, whole } = fill(node.value, key === 'key');
      if (key === 'key') {
        node.value = text;
        return undefined;
      }
      const plain = node.type === Scalar.PLAIN && node.tag === undefined;
      if (plain && whole?.value !== undefined) {
        const seq = flowList(whole.value, node.range);
        if (seq !== undefined) {
          for (const item of seq.items) {
            inserted.add(item as Node);
            if (isScalar(item) && item.source !== undefined) secret.forms.push(item.source);
          }
          secrets.set(seq, secret);
          return seq;
        }
      }
      node.value = plain ? resolvePlain(doc, text) : text;
      if (plain) node.source = text;
      if (secret.refs.length > 0) secrets.set(node, secret);
      return undefined;
    },
  });
  prepared.refs.forEach((r, idx) => {
    if (used.has(idx)) return;
    const what = r.ref === undefined ? 'a "$${" escape' : `\${${r.ref}}`;
    problems.push({ offset: prepared.splices[idx]?.outStart, message: `${what} can only be used in a value, not in a mapping key, tag or anchor` });
  });
  return { problems, secrets };
}

/** `s` with every standalone occurrence of `form` replaced by `by` (not as part of a longer word or number). */
function replaceStandalone(s: string, form: string, by: string): string {
  const word = /[A-Za-z0-9_]/;
  let out = '';
  let from = 0;
  for (let i = s.indexOf(form); i !== -1; i = s.indexOf(form, i + 1)) {
    if (i < from) continue;
    if (word.test(form[0] ?? '') && word.test(s[i - 1] ?? '')) continue;
    if (word.test(form[form.length - 1] ?? '') && word.test(s[i + form.length] ?? '')) continue;
    out += s.slice(from, i) + by;
    from = i + form.length;
  }
  return out + s.slice(from);
}

function renderings(form: string): string[] {
  const out = new Set<string>([form, JSON.stringify(form).slice(1, -1)]);
  if (form.length > 40) {
    out.add(form.slice(0, 40));
    out.add(JSON.stringify(form.slice(0, 40)).slice(1, -1));
  }
  const n = Number(form.trim());
  if (form.trim() !== '' && Number.isFinite(n)) out.add(String(n));
  return [...out].filter((f) => f !== '');
}

/**
 * Values at least this long are taken out wherever they appear, even inside a longer word or number
 * (`1731232800` inside `1731232800000`); shorter ones only as a whole word and only from messages
 * about their own key (elsewhere they would hit unrelated text).
 */
const MIN_GLOBAL_FORM = 4;

/** Booleans and nulls carry nothing worth hiding, and hiding them would garble "expected true or false". */
const NOT_SECRET = /^(?:true|false|null|~)$/i;

/**
 * `message` (about the key at `path`) with every rendering of a substituted value replaced by
 * `[value of ${NAME}]` (see MIN_GLOBAL_FORM for short values).
 */
export function redactSecrets(message: string, path: string, secrets: ReadonlyMap<string, Secret>): string {
  const related = (p: string) => p === path || p.startsWith(`${path}.`) || p.startsWith(`${path}[`) || path.startsWith(`${p}.`) || path.startsWith(`${p}[`);
  const items: [string, string][] = [];
  for (const [p, s] of secrets) {
    const by = `[value of ${s.refs.map((r) => `\${${r}}`).join(', ')}]`;
    for (const form of s.forms) for (const f of renderings(form)) if (!NOT_SECRET.test(f) && (related(p) || f.length >= MIN_GLOBAL_FORM)) items.push([f, by]);
  }
  items.sort((a, b) => b[0].length - a[0].length);
  let out = message;
  for (const [f, by] of items) out = f.length >= MIN_GLOBAL_FORM ? out.replaceAll(f, by) : replaceStandalone(out, f, by);
  return out;
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
