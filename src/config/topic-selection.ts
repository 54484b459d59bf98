/**
 * Topic selection as in the seed tool: `*` matches any run of characters, `?` one character,
 * everything else is literal, case-sensitive, whole-name. An entry starting with `~` is an
 * (unanchored) regular expression. Exclude wins over include; an empty include means all.
 */
export function globToRegExp(pattern: string): RegExp {
  if (pattern.startsWith('~')) return new RegExp(pattern.slice(1));
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`);
}

export function isPattern(entry: string): boolean {
  return entry.startsWith('~') || entry.includes('*') || entry.includes('?');
}

export interface TopicFilter {
  include: string[];
  exclude: string[];
}

export function matchesFilter(topic: string, filter: TopicFilter): boolean {
  const inc = filter.include.length === 0 || filter.include.some((p) => globToRegExp(p).test(topic));
  return inc && !filter.exclude.some((p) => globToRegExp(p).test(topic));
}

/** Literal include entries that name no existing topic: a typo the user must hear about. */
export function missingLiterals(filter: TopicFilter, existing: Iterable<string>): string[] {
  const have = new Set(existing);
  return filter.include.filter((p) => !isPattern(p) && !have.has(p));
}
