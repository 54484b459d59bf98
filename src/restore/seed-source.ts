import { readSeedSegment } from '../format/seed/backup.js';
import type { SeedSegmentEntry } from '../format/seed/manifest.js';
import { seedRecordsToBatches } from '../format/seed/segment.js';
import type { ObjectStore } from '../storage/store.js';
import type { SourceBatch } from './segment-source.js';

/**
 * The records of a seed-tool segment as Kafka record batches with their source offsets, so the
 * restore stream (window, headers, offset map, resume) treats them as it treats ours. The object is
 * read whole: the seed format has no block index (memory: the segment and its records, about twice
 * the seed tool's segment_max_bytes at most). The first batch carries the bytes read.
 */
export async function* readSeedSegmentBatches(store: ObjectStore, entry: SeedSegmentEntry): AsyncGenerator<SourceBatch> {
  const { records, storedBytes } = await readSeedSegment(store, entry);
  let bytes = storedBytes;
  for (const batch of seedRecordsToBatches(records)) {
    yield { batch, bytes };
    bytes = 0;
  }
}
