/**
 * Which topic configs a restore applies when it creates a target topic. The manifest records the
 * source topic's non-default configs, but whoever can write the bucket can edit them: copied
 * verbatim, a forged `retention.ms=1` would delete the restored records and
 * `unclean.leader.election.enable=true` would weaken the target's durability. So only configs on
 * an allowlist are copied from the backup (`restore.topic_configs_from_backup`, default
 * DEFAULT_TOPIC_CONFIGS_FROM_BACKUP, `*` = all), and `restore.topic_configs` sets values that win
 * over the backup's. See docs/configuration.md (`restore`) and docs/security.md.
 */

/** Configs that cannot delete records, weaken durability or availability, or rewrite timestamps. */
export const DEFAULT_TOPIC_CONFIGS_FROM_BACKUP: readonly string[] = ['compression.type', 'max.message.bytes'];

export interface TopicConfigChoice {
  /** What the created topic gets: allowed configs of the backup, then the user's values over them. */
  applied: Record<string, string>;
  /** Configs of the backup left out (not on the allowlist, and not set by the user). */
  skipped: Record<string, string>;
}

/** The configs a created topic gets from `fromBackup` (the manifest's) under the allowlist and the user's values. */
export function chooseTopicConfigs(fromBackup: Readonly<Record<string, string>>, allowed: readonly string[] = DEFAULT_TOPIC_CONFIGS_FROM_BACKUP, overrides: Readonly<Record<string, string>> = {}): TopicConfigChoice {
  const all = allowed.includes('*');
  const applied: Record<string, string> = {};
  const skipped: Record<string, string> = {};
  for (const name of Object.keys(fromBackup).sort()) {
    const value = fromBackup[name]!;
    if (Object.prototype.hasOwnProperty.call(overrides, name)) continue;
    if (all || allowed.includes(name)) applied[name] = value;
    else skipped[name] = value;
  }
  for (const name of Object.keys(overrides).sort()) applied[name] = overrides[name]!;
  return { applied, skipped };
}

function pairs(cfg: Readonly<Record<string, string>>): string {
  return Object.entries(cfg)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** One line per topic for reports: what a created topic gets and what of the backup it leaves out. */
export function topicConfigLines(topics: readonly { targetTopic: string; configs: Record<string, string>; configsSkipped: Record<string, string> }[]): string[] {
  const lines: string[] = [];
  for (const t of topics) {
    const applied = Object.keys(t.configs).length > 0 ? pairs(t.configs) : '(broker defaults)';
    lines.push(`  ${t.targetTopic}: ${applied}`);
    if (Object.keys(t.configsSkipped).length > 0) lines.push(`    not restored from the backup: ${pairs(t.configsSkipped)} (add names to restore.topic_configs_from_backup, or set values in restore.topic_configs)`);
  }
  return lines;
}
