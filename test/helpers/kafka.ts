/**
 * Kafka for integration tests.
 *
 * Under `npm test`, scripts/run-tests.ts starts one shared broker and exports its
 * addresses (KB_TEST_*); getTestKafka() just reads them. When a test file is run on
 * its own (`node --import tsx --test test/integration/x.test.ts`), the first call
 * starts a broker for this process instead; it is stopped when the process exits
 * (and by a watchdog if the process is killed).
 *
 * The shared broker has three listeners:
 *   bootstrap      PLAINTEXT
 *   sasl           SASL_PLAINTEXT, SCRAM-SHA-512, user KB_TEST_SASL_USER
 *   tls            SSL (client certificate accepted but not required), CA + client cert as PEM files
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { startKafka, kafkaInstalled, type RunningKafka, type StartKafkaOptions } from '../../scripts/kafka.js';
import { ROOT, waitFor } from '../../scripts/proc.js';

export interface TestKafka {
  /** PLAINTEXT bootstrap, host:port. */
  bootstrap: string;
  sasl?: { bootstrap: string; mechanism: 'SCRAM-SHA-512'; username: string; password: string };
  tls?: { bootstrap: string; caFile: string; certFile: string; keyFile: string };
}

/** Options for the shared broker (also used by scripts/run-tests.ts). */
export const SHARED_KAFKA_OPTIONS: StartKafkaOptions = {
  sasl: { mechanism: 'SCRAM-SHA-512', users: { 'kb-test': 'kb-test-secret' } },
  tls: { clientAuth: 'requested' },
};

/** The KB_TEST_* environment describing a running broker. */
export function kafkaEnv(k: RunningKafka): Record<string, string> {
  const env: Record<string, string> = { KB_TEST_BOOTSTRAP: k.bootstrap };
  const sasl = k.security?.sasl;
  if (sasl) {
    const [username, password] = Object.entries(sasl.users)[0] ?? ['', ''];
    Object.assign(env, {
      KB_TEST_SASL_BOOTSTRAP: sasl.bootstrap,
      KB_TEST_SASL_MECHANISM: sasl.mechanism,
      KB_TEST_SASL_USER: username,
      KB_TEST_SASL_PASSWORD: password,
    });
  }
  const tls = k.security?.tls;
  if (tls) {
    Object.assign(env, {
      KB_TEST_TLS_BOOTSTRAP: tls.bootstrap,
      KB_TEST_TLS_CA: tls.caFile,
      KB_TEST_TLS_CERT: tls.certFile,
      KB_TEST_TLS_KEY: tls.keyFile,
    });
  }
  return env;
}

function fromEnv(env: NodeJS.ProcessEnv): TestKafka | undefined {
  if (!env.KB_TEST_BOOTSTRAP) return undefined;
  const out: TestKafka = { bootstrap: env.KB_TEST_BOOTSTRAP };
  if (env.KB_TEST_SASL_BOOTSTRAP && env.KB_TEST_SASL_USER && env.KB_TEST_SASL_PASSWORD) {
    out.sasl = { bootstrap: env.KB_TEST_SASL_BOOTSTRAP, mechanism: 'SCRAM-SHA-512', username: env.KB_TEST_SASL_USER, password: env.KB_TEST_SASL_PASSWORD };
  }
  if (env.KB_TEST_TLS_BOOTSTRAP && env.KB_TEST_TLS_CA && env.KB_TEST_TLS_CERT && env.KB_TEST_TLS_KEY) {
    out.tls = { bootstrap: env.KB_TEST_TLS_BOOTSTRAP, caFile: env.KB_TEST_TLS_CA, certFile: env.KB_TEST_TLS_CERT, keyFile: env.KB_TEST_TLS_KEY };
  }
  return out;
}

let own: Promise<RunningKafka> | undefined;

/** The test broker: the shared one (KB_TEST_BOOTSTRAP) or one started for this process. */
export async function getTestKafka(): Promise<TestKafka> {
  const shared = fromEnv(process.env);
  if (shared) return shared;
  own ??= (async () => {
    if (!kafkaInstalled()) execFileSync('bash', [join(ROOT, 'scripts', 'install-kafka.sh')], { stdio: 'inherit' });
    return startKafka(SHARED_KAFKA_OPTIONS);
  })();
  const k = await own;
  return fromEnv(kafkaEnv(k)) as TestKafka;
}

/** Stops the broker this process started, if any (optional: it also stops at exit). */
export async function stopTestKafka(): Promise<void> {
  const p = own;
  own = undefined;
  if (p) await (await p).stop();
}

/** Unique, valid topic name: `<prefix>-<time>-<random>`. */
export function uniqueTopic(prefix = 'test'): string {
  const clean = prefix.replace(/[^a-zA-Z0-9._-]/g, '-').slice(0, 180);
  return `${clean}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** TLS options for @platformatic/kafka from the PEM files of a TestKafka.tls. */
export function tlsClientOptions(tls: NonNullable<TestKafka['tls']>, withClientCert = true): { ca: Buffer; cert?: Buffer; key?: Buffer } {
  const ca = readFileSync(tls.caFile);
  return withClientCert ? { ca, cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : { ca };
}

/** Runs `fn` with a connected Admin client, closing it afterwards. */
export async function withAdmin<T>(bootstrap: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'kafka-backup-test-admin', bootstrapBrokers: [bootstrap] });
  try {
    return await fn(admin);
  } finally {
    await admin.close().catch(() => {});
  }
}

/**
 * Creates a topic (replication factor 1) and waits until every partition has a leader.
 * `configs` are topic-level configs, e.g. { 'cleanup.policy': 'compact' }.
 */
export async function createTopic(bootstrap: string, name: string, partitions = 1, configs: Record<string, string | number> = {}): Promise<void> {
  await withAdmin(bootstrap, async (admin) => {
    await admin.createTopics({
      topics: [name],
      partitions,
      replicas: 1,
      configs: Object.entries(configs).map(([k, v]) => ({ name: k, value: String(v) })),
    });
    await waitFor(
      `topic ${name} leaders`,
      async () => {
        const md = await admin.metadata({ topics: [name], forceUpdate: true });
        const t = md.topics.get(name);
        return !!t && t.partitions.length === partitions && t.partitions.every((p) => p && p.leader >= 0);
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  });
}

/** Deletes topics (ignores errors), for tests that clean up after themselves. */
export async function deleteTopics(bootstrap: string, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await withAdmin(bootstrap, (admin) => admin.deleteTopics({ topics: names })).catch(() => {});
}
