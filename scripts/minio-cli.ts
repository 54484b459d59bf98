/**
 * npm run minio:start [-- --detach] | npm run minio:stop
 * A local MinIO; the endpoint goes to .run/minio.endpoint, keys are printed.
 */
import { minioInstalled, startMinio } from './minio.js';
import { runServerCli } from './server-cli.js';

await runServerCli(
  {
    name: 'minio',
    installScript: 'install-minio.sh',
    installed: minioInstalled,
    addressFile: 'minio.endpoint',
    start: async (detached) => {
      const m = await startMinio({ detached, accessKey: 'minioadmin', secretKey: 'minioadmin' });
      return {
        address: m.endpoint,
        pid: m.pid,
        dir: m.dir,
        info: { endpoint: m.endpoint, accessKey: m.accessKey, secretKey: m.secretKey, region: m.region, log: m.logFile },
        stop: m.stop,
      };
    },
  },
  process.argv.slice(2),
);
