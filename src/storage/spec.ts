import type { EncryptionSpec } from './encrypted.js';

/**
 * Where a backup lives, as parsed from a storage URL (`s3://bucket/prefix`) or from the
 * YAML `storage:` block. Both front ends produce this one shape; backends consume it.
 */
export type StorageSpec = StorageBackendSpec & {
  /** Client-side encryption (src/storage/encrypted.ts); from the YAML `encryption:` section. */
  encryption?: EncryptionSpec;
};

export type StorageBackendSpec =
  | { backend: 'filesystem'; path: string }
  | { backend: 'memory' }
  | {
      backend: 's3';
      bucket: string;
      prefix?: string;
      region?: string;
      endpoint?: string;
      accessKey?: string;
      secretKey?: string;
      sessionToken?: string;
      pathStyle?: boolean;
      /** Allow a plain http:// endpoint (MinIO without TLS); refused otherwise. */
      allowHttp?: boolean;
    }
  | {
      backend: 'azure';
      accountName: string;
      container: string;
      prefix?: string;
      accountKey?: string;
      sasToken?: string;
      endpoint?: string;
      clientId?: string;
      tenantId?: string;
      clientSecret?: string;
      useWorkloadIdentity?: boolean;
      /** Allow a plain http:// endpoint (Azurite); refused otherwise. */
      allowHttp?: boolean;
    }
  | {
      backend: 'gcs';
      bucket: string;
      prefix?: string;
      serviceAccountPath?: string;
      serviceAccountJson?: string;
      endpoint?: string;
      /** Allow a plain http:// endpoint (an emulator); refused otherwise. */
      allowHttp?: boolean;
    };

export type StorageBackendName = StorageSpec['backend'];
