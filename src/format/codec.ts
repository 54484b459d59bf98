/**
 * The codecs a backup compresses its segment blocks with (backup.compression): the one place the
 * union is spelled; the config schema, the backup options, the manifest, the partition index and
 * the segment format all use it. Listed in the config's order (its default first); the segment
 * footer's codec byte has its own fixed order (segment.ts).
 */
export const SEGMENT_CODECS = ['zstd', 'lz4', 'none'] as const;

export type SegmentCodec = (typeof SEGMENT_CODECS)[number];
