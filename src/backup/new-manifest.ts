import { FORMAT_VERSION, type Manifest, type ManifestTopic } from '../format/manifest.js';
import { TOOL_VERSION } from '../util/version.js';
import type { BackupOptions } from './options.js';

/** The manifest a backup id starts with (`running`), for one process or the first of several workers. */
export function newManifest(opts: BackupOptions, clusterId: string | null, started: number, topics: ManifestTopic[] = []): Manifest {
  return {
    format_version: FORMAT_VERSION,
    generation: 0,
    tool_version: TOOL_VERSION,
    backup_id: opts.backupId,
    status: 'running',
    mode: opts.continuous ? 'continuous' : 'snapshot',
    source_cluster_id: opts.sourceClusterId ?? clusterId,
    source_bootstrap_servers: opts.source.bootstrapServers,
    compression: opts.compression,
    include_offset_headers: opts.includeOffsetHeaders,
    created_at: started,
    updated_at: started,
    completed_at: null,
    topics,
  };
}
