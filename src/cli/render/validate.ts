import type { BackupValidation } from '../../backup/validate.js';
import { bytes, num, RULE } from '../output.js';

export function validateJson(v: BackupValidation): unknown {
  return {
    backup_id: v.backupId,
    valid: v.problems.length === 0,
    complete: v.incomplete.length === 0,
    deep: v.deep,
    segments_checked: v.segmentsChecked,
    records_checked: v.deep ? v.recordsChecked : null,
    bytes_checked: v.bytesChecked,
    /** Record it to detect a rollback of the whole backup later (docs/security.md, threat model). */
    manifest_generation: v.view?.manifest.generation ?? null,
    problems: v.problems,
    incomplete: v.incomplete,
    warnings: v.warnings,
    pruned: v.pruned,
  };
}

export function validateText(v: BackupValidation): string {
  const lines = [
    `Backup Validation: ${v.backupId}`,
    RULE,
    '',
    `Status: ${v.problems.length === 0 ? '✓ VALID' : `✗ INVALID (${v.problems.length} problem${v.problems.length === 1 ? '' : 's'})`}`,
    `Segments checked: ${num(v.segmentsChecked)} (${bytes(v.bytesChecked)}, whole-object digest${v.deep ? ', every batch CRC-32C and record decoded' : ''})`,
  ];
  if (v.deep) lines.push(`Records decoded: ${num(v.recordsChecked)}`);
  if (v.incomplete.length)
    lines.push(
      `Complete: ✗ INCOMPLETE (${v.incomplete.length} partition${v.incomplete.length === 1 ? '' : 's'} short of the snapshot's end offsets; run the backup again to complete it)`,
    );
  if (v.problems.length) lines.push('', 'Problems:', ...v.problems.map((p) => `  ✗ ${p.object}: ${p.problem}`));
  if (v.incomplete.length) lines.push('', 'Not backed up:', ...v.incomplete.map((p) => `  ✗ ${p.object}: ${p.problem}`));
  if (v.pruned.length) lines.push('', 'Pruned by retention (recorded; not damage):', ...v.pruned.map((p) => `  - ${p}`));
  if (v.warnings.length) lines.push('', 'Warnings:', ...v.warnings.map((w) => `  ! ${w}`));
  return lines.join('\n');
}
