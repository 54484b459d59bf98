/**
 * npm run kafka:start [-- --detach] | npm run kafka:stop
 * A local single-node Kafka (PLAINTEXT + SASL/SCRAM-SHA-512 + TLS listeners) for
 * experiments; the PLAINTEXT bootstrap address goes to .run/kafka.bootstrap.
 */
import { kafkaInstalled, startKafka } from './kafka.js';
import { runServerCli } from './server-cli.js';
import { SHARED_KAFKA_OPTIONS } from '../test/helpers/kafka.js';

await runServerCli(
  {
    name: 'kafka',
    installScript: 'install-kafka.sh',
    installed: kafkaInstalled,
    addressFile: 'kafka.bootstrap',
    start: async (detached) => {
      const k = await startKafka({ ...SHARED_KAFKA_OPTIONS, detached });
      return {
        address: k.bootstrap,
        pid: k.pid,
        dir: k.dir,
        info: { bootstrap: k.bootstrap, clusterId: k.clusterId, log: k.logFile, security: k.security },
        stop: k.stop,
      };
    },
  },
  process.argv.slice(2),
);
