import { UserError } from '../util/errors.js';
import { FsStore } from './fs.js';
import { MemoryStore } from './memory.js';
import { PrefixStore } from './prefix.js';
import type { StorageSpec } from './spec.js';
import type { ObjectStore } from './store.js';
import { withEncryption } from './encrypted.js';

export type { ByteRange, ObjectMeta, ObjectStore, PutOptions } from './store.js';
export type { StorageSpec, StorageBackendName } from './spec.js';
export { parseStorageUrl, ACCEPTED_STORAGE_URLS, redactUrl } from './url.js';
export { validateKey } from './keys.js';
export { PrefixStore } from './prefix.js';
export { MemoryStore } from './memory.js';
export { FsStore } from './fs.js';
export { EncryptedStore, EncryptionKeyError, PlaintextGuardStore, setDefaultEncryption, type EncryptionSpec } from './encrypted.js';

function withPrefix(store: ObjectStore, prefix: string | undefined): ObjectStore {
  return prefix ? new PrefixStore(store, prefix) : store;
}

/**
 * Open the store a spec describes. Cloud SDKs are imported lazily, so a filesystem backup never
 * loads them. Remote prefixes are applied by PrefixStore, identically for every backend.
 * Encryption (spec.encryption, or the CLI's default) wraps the result, outermost.
 */
export async function openStore(spec: StorageSpec): Promise<ObjectStore> {
  return withEncryption(await openBackend(spec), spec.encryption);
}

async function openBackend(spec: StorageSpec): Promise<ObjectStore> {
  switch (spec.backend) {
    case 'filesystem':
      if (!spec.path) throw new UserError('BAD_STORAGE_CONFIG', 'filesystem storage needs a path');
      return new FsStore(spec.path);
    case 'memory':
      return new MemoryStore();
    case 's3': {
      if (!spec.bucket) throw new UserError('BAD_STORAGE_CONFIG', 's3 storage needs a bucket');
      const { S3Store } = await import('./s3.js');
      return withPrefix(new S3Store(spec), spec.prefix);
    }
    case 'azure': {
      if (!spec.accountName || !spec.container) throw new UserError('BAD_STORAGE_CONFIG', 'azure storage needs an account and a container');
      const { AzureStore } = await import('./azure.js');
      return withPrefix(new AzureStore(spec), spec.prefix);
    }
    case 'gcs': {
      if (!spec.bucket) throw new UserError('BAD_STORAGE_CONFIG', 'gcs storage needs a bucket');
      const { GcsStore } = await import('./gcs.js');
      return withPrefix(new GcsStore(spec), spec.prefix);
    }
  }
}
