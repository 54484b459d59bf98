/** The PDF rendering of an evidence report (pdfkit, loaded only when `pdf` is among evidence.formats). */
import PDFDocument from 'pdfkit';
import type { EvidenceReport } from './run.js';

export async function renderPdf(r: EvidenceReport): Promise<Buffer> {
  // Fixed creation date: the PDF depends only on the report.
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: { Title: `Kafka backup validation ${r.report_id}`, Author: `kafka-backup ${r.tool.version}`, CreationDate: new Date(r.generated_at) },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const v = r.validation;
  doc.fontSize(18).text('Kafka Backup Restore Validation Evidence');
  doc
    .moveDown(0.5)
    .fontSize(12)
    .fillColor(v.result === 'passed' ? '#1a7f37' : '#cf222e')
    .text(`Result: ${v.result.toUpperCase()}`)
    .fillColor('black');
  doc.moveDown(0.5).fontSize(10);
  const rows: [string, string][] = [
    ['Report id', r.report_id],
    ['Generated at', r.generated_at],
    ['Tool', `${r.tool.name} ${r.tool.version}`],
    ['Backup id', r.backup.id],
    ['Backup storage', r.backup.storage],
    ['Backup records', `${r.backup.total_records} in ${r.backup.total_topics} topics, ${r.backup.total_partitions} partitions`],
    ['PITR timestamp', r.pitr_timestamp === null ? '-' : `${r.pitr_timestamp} (${new Date(r.pitr_timestamp).toISOString()})`],
    ['Triggered by', r.triggered_by ?? '-'],
    ['Expectation from', r.restore ? `restore ${r.restore.restore_id} (completed ${r.restore.completed_at})` : 'backup manifest'],
    ['Target cluster', r.target.bootstrap_servers.join(', ')],
    ['Started / completed', `${v.started_at} / ${v.completed_at} (${v.duration_ms} ms)`],
    ['Checks', `${v.checks_total} total, ${v.checks_passed} passed, ${v.checks_failed} failed, ${v.checks_skipped} skipped, ${v.checks_warning} warnings`],
    ['Manifest SHA-256', r.integrity.backup_manifest_sha256],
    ['Signature', r.integrity.signature_algorithm],
    ['Retention', `${r.retention.retention_days} days (until ${r.retention.retain_until})`],
  ];
  for (const [k, val] of rows) doc.font('Helvetica-Bold').text(`${k}: `, { continued: true }).font('Helvetica').text(val);
  doc.moveDown().fontSize(13).font('Helvetica-Bold').text('Checks');
  doc.fontSize(10);
  for (const c of v.checks) {
    doc.moveDown(0.3).font('Helvetica-Bold').text(`[${c.status.toUpperCase()}] ${c.name} (${c.type})`).font('Helvetica').text(c.message);
  }
  if (r.notes.length) {
    doc.moveDown().fontSize(13).font('Helvetica-Bold').text('Notes').fontSize(10).font('Helvetica');
    for (const n of r.notes) doc.text(`- ${n}`);
  }
  doc
    .moveDown()
    .fontSize(8)
    .fillColor('gray')
    .text('The JSON report is the authoritative record; its detached .sig signature (when signing is enabled) covers the JSON bytes, not this PDF.');
  doc.end();
  return done;
}
