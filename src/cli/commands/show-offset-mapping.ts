import type { Command } from 'commander';
import { offsetMappings, type MappingEntry } from '../../offsets/mapping.js';
import { print, withStore } from '../io.js';
import { columns, parseFormat, render } from '../output.js';

const CSV_COLUMNS = [
  'restore_id',
  'target_topic',
  'target_partition',
  'source_topic',
  'source_partition',
  'source_first_offset',
  'source_last_offset',
  'target_first_offset',
  'target_last_offset',
  'records',
  'runs',
] as const;

function mappingText(backupId: string, entries: MappingEntry[]): string {
  if (entries.length === 0) return `No stored restore of ${backupId} (restore states under ${backupId}/restores/)`;
  const rows = entries.map((e) => [
    `${e.restore_id}${e.completed_at === null ? ' (unfinished)' : ''}`,
    `${e.target_topic}/${e.target_partition}`,
    `${e.source_topic}/${e.source_partition}`,
    `${e.source_first_offset}..${e.source_last_offset}`,
    `${e.target_first_offset}..${e.target_last_offset}`,
    String(e.records),
    String(e.runs),
  ]);
  return columns([['restore', 'target', 'source', 'source offsets', 'target offsets', 'records', 'runs'], ...rows], 3).join('\n');
}

export function registerShowOffsetMappingCommand(program: Command): void {
  program
    .command('show-offset-mapping')
    .description("Show the exact source → target offset maps of a backup's restores")
    .requiredOption('-p, --path <url>', 'storage location')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .option('-f, --format <format>', 'text, json, yaml or csv', 'text')
    .action(async (o: { path: string; backupId: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json', 'yaml', 'csv']);
      await withStore(o.path, async (store) => {
        const entries = await offsetMappings(store, o.backupId);
        if (format === 'csv') return print([CSV_COLUMNS.join(','), ...entries.map((e) => CSV_COLUMNS.map((c) => String(e[c])).join(','))].join('\n'));
        print(render(format, { backup_id: o.backupId, entries }, () => mappingText(o.backupId, entries)));
      });
    });
}
