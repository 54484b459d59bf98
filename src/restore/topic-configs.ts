/**
 * Which topic configs a restore applies when it creates a target topic. The manifest records the
 * source topic's non-default configs, but whoever can write the bucket can edit them: copied
 * verbatim, a forged `retention.ms=1` would delete the restored records and
 * `unclean.leader.election.enable=true` would weaken the target's durability. So only configs on
 * an allowlist are copied from the backup (`restore.topic_configs_from_backup`, default
 * DEFAULT_TOPIC_CONFIGS_FROM_BACKUP, `*` = all), and `restore.topic_configs` sets values that win
 * over the backup's. See docs/configuration.md (`restore`) and docs/security.md.
 */

/**
 * Configs that cannot weaken durability or availability or rewrite timestamps. Retention is on it, since
 * a restored topic left at the target's default retention can lose its old records at the next
 * retention check; a retention value that would delete restored records at once (a forged
 * `retention.ms=1`, or simply a source retention shorter than the restored data's age) is held back
 * by `holdBackDestructiveRetention`.
 */
export const DEFAULT_TOPIC_CONFIGS_FROM_BACKUP: readonly string[] = [
  'cleanup.policy',
  'compression.type',
  'max.message.bytes',
  'retention.bytes',
  'retention.ms',
];

/** What a topic will hold once restored, to judge a retention config by. */
export interface RestoredExtent {
  /** The oldest record timestamp restored into the topic (undefined: none). */
  oldestTimestamp?: number;
  /** The most bytes restored into one partition. */
  largestPartitionBytes: number;
  now: number;
}

/**
 * Moves retention.ms / retention.bytes values of the backup (never the user's own, `restore.topic_configs`)
 * that would make the broker delete restored records right away from `applied` to `skipped`, and says why.
 */
export function holdBackDestructiveRetention(
  choice: { configs: Record<string, string>; configsSkipped: Record<string, string> },
  overrides: Readonly<Record<string, string>>,
  extent: RestoredExtent,
  topic: string,
): string[] {
  const why: string[] = [];
  const hold = (name: string, reason: string): void => {
    choice.configsSkipped[name] = choice.configs[name]!;
    delete choice.configs[name];
    why.push(
      `${topic}: the backup's ${name}=${choice.configsSkipped[name]} is not applied: ${reason} (set restore.topic_configs: { ${name}: … } to choose a value)`,
    );
  };
  const value = (name: string): number | undefined =>
    Object.hasOwn(overrides, name) || choice.configs[name] === undefined ? undefined : Number(choice.configs[name]);
  const ms = value('retention.ms');
  if (ms !== undefined && ms >= 0 && extent.oldestTimestamp !== undefined && extent.now - extent.oldestTimestamp > ms) {
    hold(
      'retention.ms',
      `the broker would delete restored records at once (the oldest is ${Math.floor((extent.now - extent.oldestTimestamp) / 86_400_000)} days old)`,
    );
  }
  const bytes = value('retention.bytes');
  if (bytes !== undefined && bytes >= 0 && extent.largestPartitionBytes > bytes) {
    hold('retention.bytes', `the broker would delete restored records at once (a partition receives ${extent.largestPartitionBytes} bytes)`);
  }
  if (why.length) choice.configsSkipped = Object.fromEntries(Object.entries(choice.configsSkipped).sort(([a], [b]) => a.localeCompare(b)));
  return why;
}

export interface TopicConfigChoice {
  /** What the created topic gets: allowed configs of the backup, then the user's values over them. */
  applied: Record<string, string>;
  /** Configs of the backup left out (not on the allowlist, and not set by the user). */
  skipped: Record<string, string>;
}

/** The configs a created topic gets from `fromBackup` (the manifest's) under the allowlist and the user's values. */
export function chooseTopicConfigs(
  fromBackup: Readonly<Record<string, string>>,
  allowed: readonly string[] = DEFAULT_TOPIC_CONFIGS_FROM_BACKUP,
  overrides: Readonly<Record<string, string>> = {},
): TopicConfigChoice {
  const all = allowed.includes('*');
  const applied: Record<string, string> = {};
  const skipped: Record<string, string> = {};
  for (const name of Object.keys(fromBackup).sort()) {
    const value = fromBackup[name]!;
    if (Object.hasOwn(overrides, name)) continue;
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
export function topicConfigLines(
  topics: readonly { targetTopic: string; configs: Record<string, string>; configsSkipped: Record<string, string> }[],
): string[] {
  const lines: string[] = [];
  for (const t of topics) {
    const applied = Object.keys(t.configs).length > 0 ? pairs(t.configs) : '(broker defaults)';
    lines.push(`  ${t.targetTopic}: ${applied}`);
    if (Object.keys(t.configsSkipped).length > 0)
      lines.push(
        `    not restored from the backup: ${pairs(t.configsSkipped)} (not on restore.topic_configs_from_backup, or a retention that would delete restored records; set values in restore.topic_configs)`,
      );
  }
  return lines;
}
