/**
 * Start a throw-away single-node Apache Kafka (KRaft, combined broker+controller) for
 * tests, benchmarks and local experiments. Needs `bash scripts/install-kafka.sh` first
 * (jars in .cache/kafka-jars) and java 17+ on PATH.
 *
 *   const kafka = await startKafka();                       // PLAINTEXT only
 *   const kafka = await startKafka({ sasl: { mechanism: 'SCRAM-SHA-512', users: { alice: 'alice-secret' } } });
 *   const kafka = await startKafka({ tls: { clientAuth: 'required' } });
 *   ...
 *   await kafka.stop();
 *
 * A PLAINTEXT listener (`kafka.bootstrap`) is always present, for admin use; SASL/TLS
 * listeners are extra listeners on their own ports, described in `kafka.security`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { CACHE_DIR, RUN_DIR, canConnect, freePorts, supervise, tail, waitFor, type Supervised } from './proc.js';

const execFileP = promisify(execFile);

export const KAFKA_JARS_DIR = process.env.KB_KAFKA_JARS ? resolve(process.env.KB_KAFKA_JARS) : join(CACHE_DIR, 'kafka-jars');

export type ScramMechanism = 'SCRAM-SHA-512' | 'SCRAM-SHA-256';

export interface KafkaSaslOptions {
  /** OAUTHBEARER: Kafka's unsecured JWS validator (tokens with alg none, a sub and an exp); `users` is not used. */
  mechanism: ScramMechanism | 'OAUTHBEARER';
  /** user name → password. Created with StorageTool --add-scram at format time. */
  users: Record<string, string>;
}

export interface KafkaTlsOptions {
  /** 'required' = mutual TLS (ssl.client.auth=required). Default 'none'. */
  clientAuth?: 'none' | 'requested' | 'required';
}

export interface StartKafkaOptions {
  sasl?: KafkaSaslOptions;
  tls?: true | KafkaTlsOptions;
  /** JVM max heap, default '512m'. */
  heap?: string;
  /** Extra server.properties entries (override the defaults). */
  brokerConfig?: Record<string, string | number | boolean>;
  /** Startup timeout (ms), default 60 s. */
  timeoutMs?: number;
  /** Keep the run directory (data + logs) after stop(); also KB_KEEP_RUN=1. */
  keepDir?: boolean;
  /** The broker outlives this node process (no watchdog); used by kafka:start --detach. */
  detached?: boolean;
  /** Client id used for the readiness probe. */
  clientId?: string;
  /**
   * An extra PLAINTEXT listener named EXTERNAL whose advertised address is another one (a fault
   * proxy in front of the broker): clients bootstrapped through that address keep going through
   * it, since the metadata of the EXTERNAL listener names it. Inter-broker traffic stays on PLAINTEXT.
   */
  external?: { advertisedPort: number; advertisedHost?: string };
}

export interface KafkaRestartOptions {
  /** Time between the broker's exit and its start again (ms), default 0. */
  downMs?: number;
  /** SIGTERM grace before SIGKILL (ms), default 15 s; 0 = kill at once (no controlled shutdown). */
  graceMs?: number;
}

export interface KafkaSaslListener {
  /** host:port of the SASL_PLAINTEXT listener. */
  bootstrap: string;
  port: number;
  mechanism: ScramMechanism | 'OAUTHBEARER';
  users: Record<string, string>;
}

export interface KafkaTlsListener {
  /** host:port of the SSL listener. */
  bootstrap: string;
  port: number;
  clientAuth: 'none' | 'requested' | 'required';
  /** PEM files. The client cert/key are signed by the same CA as the broker cert. */
  caFile: string;
  certFile: string;
  keyFile: string;
  brokerCertFile: string;
  brokerKeyFile: string;
}

export interface KafkaSecurity {
  sasl?: KafkaSaslListener;
  tls?: KafkaTlsListener;
  /** SASL_SSL listener (only when both sasl and tls were requested). */
  saslSsl?: { bootstrap: string; port: number };
}

export interface RunningKafka {
  /** host:port of the PLAINTEXT listener. */
  bootstrap: string;
  port: number;
  controllerPort: number;
  clusterId: string;
  /** Run directory: server.properties, kafka.log, data/, tls/. */
  dir: string;
  logFile: string;
  /** Process group id of the broker (its watchdog). */
  pid: number;
  security?: KafkaSecurity;
  /** The EXTERNAL listener (StartKafkaOptions.external): where it listens and what it advertises. */
  external?: { port: number; bootstrap: string; advertised: string };
  /** Stops the broker and starts it again on the same ports, with the same data directory and cluster id. */
  restart(opts?: KafkaRestartOptions): Promise<void>;
  stop(): Promise<void>;
}

/** Kafka cluster ids are 16 random bytes, base64url without padding (like Uuid.randomUuid()). */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function kafkaInstalled(): boolean {
  return existsSync(KAFKA_JARS_DIR) && readdirSync(KAFKA_JARS_DIR).some((f) => /^kafka_2\.13-.*\.jar$/.test(f));
}

function classpath(): string {
  return `${KAFKA_JARS_DIR}/*`;
}

const LOG4J2 = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
`;

function jvmArgs(dir: string, heap: string): string[] {
  return [
    `-Xmx${heap}`,
    '-Xms128m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${dir}`,
  ];
}

/** Validates user names/passwords: StorageTool's --add-scram syntax has no escaping. */
function checkScramToken(kind: string, v: string): void {
  if (!/^[A-Za-z0-9._@+:\-/]+$/.test(v)) throw new Error(`SASL ${kind} ${JSON.stringify(v)}: only [A-Za-z0-9._@+:/-] allowed`);
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/**
 * Writes a throw-away PKI into `dir`: ca.pem/ca.key, broker.pem/broker.key (SAN
 * IP:127.0.0.1, DNS:localhost), client.pem/client.key (CN=kafka-backup-test-client).
 * Keys are unencrypted PKCS#8 PEM, which both Kafka (ssl.keystore.type=PEM) and node accept.
 */
export async function generateTestPki(
  dir: string,
): Promise<{ caFile: string; brokerCertFile: string; brokerKeyFile: string; certFile: string; keyFile: string }> {
  mkdirSync(dir, { recursive: true });
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '30',
      '-subj',
      '/CN=kafka-backup-test-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const leaf = async (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-days',
        '30',
        '-sha256',
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    );
  };
  await leaf(
    'broker',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
  );
  await leaf('client', 'kafka-backup-test-client', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  return {
    caFile: join(dir, 'ca.pem'),
    brokerCertFile: join(dir, 'broker.pem'),
    brokerKeyFile: join(dir, 'broker.key'),
    certFile: join(dir, 'client.pem'),
    keyFile: join(dir, 'client.key'),
  };
}

function propsToText(props: Record<string, string | number | boolean>): string {
  return (
    Object.entries(props)
      .map(([k, v]) => `${k}=${String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
      .join('\n') + '\n'
  );
}

/** Probe: the broker answers a metadata request on `bootstrap`. */
export async function kafkaAnswers(bootstrap: string, clientId = 'kafka-backup-probe'): Promise<boolean> {
  const admin = new Admin({ clientId, bootstrapBrokers: [bootstrap], retries: 0, connectTimeout: 2000, requestTimeout: 5000 });
  try {
    await admin.listTopics();
    return true;
  } finally {
    await admin.close().catch(() => {});
  }
}

/**
 * server.properties shared by the single broker and the cluster nodes: combined broker+controller,
 * small buffers and thread pools (tests run several brokers on a 2-core machine), no retention.
 * `rf` is the replication factor of the internal topics and the default of new topics.
 */
function baseBrokerProps(dir: string, nodeId: number, voters: string, rf: number): Record<string, string | number | boolean> {
  const minIsr = Math.min(2, rf);
  return {
    'process.roles': 'broker,controller',
    'node.id': nodeId,
    'controller.quorum.voters': voters,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,EXTERNAL:PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'num.partitions': 1,
    'default.replication.factor': rf,
    'min.insync.replicas': minIsr,
    'auto.create.topics.enable': false,
    'delete.topic.enable': true,
    'offsets.topic.replication.factor': rf,
    'offsets.topic.num.partitions': 5,
    'transaction.state.log.replication.factor': rf,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': 5,
    'share.coordinator.state.topic.replication.factor': rf,
    'share.coordinator.state.topic.min.isr': minIsr,
    'group.initial.rebalance.delay.ms': 0,
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'log.segment.bytes': 16 * 1024 * 1024,
    'log.index.size.max.bytes': 1024 * 1024,
    'log.retention.hours': -1,
    'log.retention.bytes': -1,
    'log.cleaner.dedupe.buffer.size': 8 * 1024 * 1024,
    'log.cleaner.backoff.ms': 1000,
    'metadata.log.segment.bytes': 8 * 1024 * 1024,
    'message.max.bytes': 10 * 1024 * 1024,
    'replica.fetch.max.bytes': 10 * 1024 * 1024,
    'socket.request.max.bytes': 128 * 1024 * 1024,
  };
}

async function startOnce(opts: StartKafkaOptions): Promise<RunningKafka> {
  if (!kafkaInstalled()) throw new Error(`Kafka jars not found in ${KAFKA_JARS_DIR}: run bash scripts/install-kafka.sh`);
  mkdirSync(RUN_DIR, { recursive: true });
  const dir = mkdtempSync(join(RUN_DIR, 'kafka-'));
  const keep = opts.keepDir || process.env.KB_KEEP_RUN === '1';
  const logFile = join(dir, 'kafka.log');
  const tlsOpts: KafkaTlsOptions | undefined = opts.tls === true ? {} : opts.tls || undefined;
  const sasl = opts.sasl;
  const [port, controllerPort, saslPort, tlsPort, saslSslPort, externalPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const host = '127.0.0.1';
  const clusterId = randomClusterId();

  const listeners = [`PLAINTEXT://${host}:${port}`, `CONTROLLER://${host}:${controllerPort}`];
  const advertised = [`PLAINTEXT://${host}:${port}`];
  const external = opts.external
    ? { port: externalPort, bootstrap: `${host}:${externalPort}`, advertised: `${opts.external.advertisedHost ?? host}:${opts.external.advertisedPort}` }
    : undefined;
  if (external) {
    listeners.push(`EXTERNAL://${external.bootstrap}`);
    advertised.push(`EXTERNAL://${external.advertised}`);
  }
  const props = baseBrokerProps(dir, 1, `1@${host}:${controllerPort}`, 1);

  const security: KafkaSecurity = {};
  if (sasl) {
    const oauth = sasl.mechanism === 'OAUTHBEARER';
    if (!oauth && Object.keys(sasl.users).length === 0) throw new Error('sasl.users must name at least one user');
    listeners.push(`SASL_PLAINTEXT://${host}:${saslPort}`);
    advertised.push(`SASL_PLAINTEXT://${host}:${saslPort}`);
    props['sasl.enabled.mechanisms'] = sasl.mechanism;
    const mech = sasl.mechanism.toLowerCase();
    const jaas = oauth
      ? 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;'
      : 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
    props[`listener.name.sasl_plaintext.${mech}.sasl.jaas.config`] = jaas;
    props['listener.name.sasl_plaintext.sasl.enabled.mechanisms'] = sasl.mechanism;
    security.sasl = { bootstrap: `${host}:${saslPort}`, port: saslPort, mechanism: sasl.mechanism, users: { ...sasl.users } };
    if (tlsOpts) {
      props[`listener.name.sasl_ssl.${mech}.sasl.jaas.config`] = jaas;
      props['listener.name.sasl_ssl.sasl.enabled.mechanisms'] = sasl.mechanism;
    }
  }
  if (tlsOpts) {
    const pki = await generateTestPki(join(dir, 'tls'));
    const clientAuth = tlsOpts.clientAuth ?? 'none';
    listeners.push(`SSL://${host}:${tlsPort}`);
    advertised.push(`SSL://${host}:${tlsPort}`);
    const tlsNames = sasl ? ['ssl', 'sasl_ssl'] : ['ssl'];
    if (sasl) {
      listeners.push(`SASL_SSL://${host}:${saslSslPort}`);
      advertised.push(`SASL_SSL://${host}:${saslSslPort}`);
      security.saslSsl = { bootstrap: `${host}:${saslSslPort}`, port: saslSslPort };
    }
    for (const name of tlsNames) {
      const p = `listener.name.${name}.`;
      props[`${p}ssl.keystore.type`] = 'PEM';
      props[`${p}ssl.keystore.location`] = join(dir, 'tls', 'broker-keystore.pem');
      props[`${p}ssl.truststore.type`] = 'PEM';
      props[`${p}ssl.truststore.location`] = pki.caFile;
      props[`${p}ssl.endpoint.identification.algorithm`] = '';
      // mTLS applies to the SSL listener only; the SASL_SSL listener authenticates with SASL.
      props[`${p}ssl.client.auth`] = name === 'ssl' ? clientAuth : 'none';
    }
    // A PEM keystore file holds the private key (PKCS#8) followed by the certificate chain.
    writeFileSync(
      join(dir, 'tls', 'broker-keystore.pem'),
      readFileSync(pki.brokerKeyFile, 'utf8') + readFileSync(pki.brokerCertFile, 'utf8') + readFileSync(pki.caFile, 'utf8'),
    );
    security.tls = { bootstrap: `${host}:${tlsPort}`, port: tlsPort, clientAuth, ...pki };
  }
  props.listeners = listeners.join(',');
  props['advertised.listeners'] = advertised.join(',');
  Object.assign(props, opts.brokerConfig ?? {});

  const propsFile = join(dir, 'server.properties');
  writeFileSync(propsFile, propsToText(props));
  writeFileSync(join(dir, 'log4j2.properties'), LOG4J2);

  const cleanup = () => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };

  // Format the storage (and create SCRAM users in the bootstrap metadata).
  const formatArgs = [
    '-Xmx256m',
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
    '-cp',
    classpath(),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    propsFile,
    '--ignore-formatted',
  ];
  if (sasl && sasl.mechanism !== 'OAUTHBEARER') {
    for (const [name, password] of Object.entries(sasl.users)) {
      checkScramToken('user name', name);
      checkScramToken('password', password);
      formatArgs.push('--add-scram', `${sasl.mechanism}=[name=${name},password=${password}]`);
    }
  }
  try {
    await execFileP('java', formatArgs, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    cleanup();
    throw new Error(`kafka StorageTool format failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }

  let proc: Supervised | undefined;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  /** Starts the JVM on the formatted directory and waits until it answers (also used by restart). */
  const launch = async (): Promise<void> => {
    const p = supervise('java', [...jvmArgs(dir, opts.heap ?? '512m'), '-cp', classpath(), 'kafka.Kafka', propsFile], {
      cwd: dir,
      logFile,
      dir: keep ? undefined : dir,
      ownedByThisProcess: !opts.detached,
    });
    proc = p;
    try {
      await waitFor(`kafka on ${host}:${port}`, () => canConnect(port, host), {
        timeoutMs,
        intervalMs: 200,
        abort: () => (p.isRunning() ? undefined : 'broker process exited'),
      });
      await waitFor(`kafka metadata on ${host}:${port}`, () => kafkaAnswers(`${host}:${port}`, opts.clientId), {
        timeoutMs,
        intervalMs: 300,
        abort: () => (p.isRunning() ? undefined : 'broker process exited'),
      });
      if (security.sasl) await waitFor('kafka SASL listener', () => canConnect(saslPort, host), { timeoutMs: 10_000 });
      if (security.tls) await waitFor('kafka SSL listener', () => canConnect(tlsPort, host), { timeoutMs: 10_000 });
      if (external) await waitFor('kafka EXTERNAL listener', () => canConnect(externalPort, host), { timeoutMs: 10_000 });
    } catch (err) {
      const logTail = tail(logFile, 80);
      await p.stop(5000);
      const e = new Error(`${(err as Error).message}\n--- tail of ${logFile} ---\n${logTail}`) as Error & { brokerLog?: string };
      e.brokerLog = logTail;
      throw e;
    }
  };

  const stop = async () => {
    await proc?.stop();
    cleanup();
  };

  const restart = async (r: KafkaRestartOptions = {}): Promise<void> => {
    const old = proc;
    if (old) {
      // The watchdog deletes `dir` only when this node process dies, not on stop(): the data stays.
      await old.stop(r.graceMs ?? 15_000);
    }
    if (r.downMs) await new Promise((res) => setTimeout(res, r.downMs));
    await launch();
  };

  try {
    await launch();
  } catch (err) {
    cleanup();
    throw err;
  }

  return {
    bootstrap: `${host}:${port}`,
    port,
    controllerPort,
    clusterId,
    dir,
    logFile,
    get pid() {
      return proc!.pid;
    },
    ...(Object.keys(security).length ? { security } : {}),
    ...(external ? { external } : {}),
    restart,
    stop,
  };
}

/**
 * Starts a broker; retries (with new ports) when a port raced away between picking
 * it and the JVM binding it.
 */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<RunningKafka> {
  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err;
      const log = (err as { brokerLog?: string }).brokerLog ?? '';
      if (!/Address already in use|BindException/.test(log)) throw err;
    }
  }
  throw lastErr;
}

export interface StartKafkaClusterOptions {
  /** Number of nodes, each a combined broker+controller (a KRaft quorum of all of them). Default 3. */
  nodes?: number;
  /** JVM max heap per node, default '256m'. */
  heap?: string;
  /** Extra server.properties entries for every node. */
  brokerConfig?: Record<string, string | number | boolean>;
  /** Startup timeout (ms), default 90 s. */
  timeoutMs?: number;
  /** Keep the run directories after stop(); also KB_KEEP_RUN=1. */
  keepDir?: boolean;
}

export interface KafkaClusterNode {
  nodeId: number;
  /** host:port of this node's PLAINTEXT listener. */
  bootstrap: string;
  dir: string;
  logFile: string;
  isRunning(): boolean;
  /** SIGSTOP / SIGCONT the node (its process group): a replica that stops fetching without leaving. */
  pause(): void;
  resume(): void;
}

export interface RunningKafkaCluster {
  /** Every node's PLAINTEXT host:port, for bootstrap_servers. */
  bootstraps: string[];
  clusterId: string;
  nodes: KafkaClusterNode[];
  stop(): Promise<void>;
}

/**
 * Starts a throw-away multi-node KRaft cluster (PLAINTEXT only) on free ports, for tests of
 * replication: internal topics and new topics get replication factor min(3, nodes) and
 * min.insync.replicas 2. Each node is its own JVM under the watchdog (stopped if this process dies).
 */
export async function startKafkaCluster(opts: StartKafkaClusterOptions = {}): Promise<RunningKafkaCluster> {
  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startClusterOnce(opts);
    } catch (err) {
      lastErr = err;
      if (!/Address already in use|BindException/.test((err as Error).message)) throw err;
    }
  }
  throw lastErr;
}

async function startClusterOnce(opts: StartKafkaClusterOptions): Promise<RunningKafkaCluster> {
  if (!kafkaInstalled()) throw new Error(`Kafka jars not found in ${KAFKA_JARS_DIR}: run bash scripts/install-kafka.sh`);
  const n = opts.nodes ?? 3;
  if (!Number.isInteger(n) || n < 1) throw new RangeError('nodes must be a positive integer');
  mkdirSync(RUN_DIR, { recursive: true });
  const keep = opts.keepDir || process.env.KB_KEEP_RUN === '1';
  const host = '127.0.0.1';
  const ports = await freePorts(2 * n);
  const clusterId = randomClusterId();
  const voters = Array.from({ length: n }, (_, i) => `${i + 1}@${host}:${ports[n + i]}`).join(',');
  const rf = Math.min(3, n);
  const specs = Array.from({ length: n }, (_, i) => {
    const nodeId = i + 1;
    const port = ports[i]!;
    const dir = mkdtempSync(join(RUN_DIR, `kafka-node${nodeId}-`));
    const props = baseBrokerProps(dir, nodeId, voters, rf);
    props.listeners = `PLAINTEXT://${host}:${port},CONTROLLER://${host}:${ports[n + i]}`;
    props['advertised.listeners'] = `PLAINTEXT://${host}:${port}`;
    Object.assign(props, opts.brokerConfig ?? {});
    const propsFile = join(dir, 'server.properties');
    writeFileSync(propsFile, propsToText(props));
    writeFileSync(join(dir, 'log4j2.properties'), LOG4J2);
    return { nodeId, port, dir, propsFile, logFile: join(dir, 'kafka.log') };
  });
  const procs: Supervised[] = [];
  const cleanup = async (): Promise<void> => {
    for (const p of procs) {
      try {
        process.kill(-p.pid, 'SIGCONT'); // a paused node cannot handle its SIGTERM
      } catch {
        /* gone */
      }
    }
    await Promise.allSettled(procs.map((p) => p.stop()));
    if (!keep) for (const s of specs) rmSync(s.dir, { recursive: true, force: true });
  };
  const timeoutMs = opts.timeoutMs ?? 90_000;
  try {
    // Formatting is a JVM start each: done in parallel.
    await Promise.all(
      specs.map((s) =>
        execFileP(
          'java',
          [
            '-Xmx256m',
            '-XX:TieredStopAtLevel=1',
            `-Dlog4j2.configurationFile=${join(s.dir, 'log4j2.properties')}`,
            '-cp',
            classpath(),
            'kafka.tools.StorageTool',
            'format',
            '-t',
            clusterId,
            '-c',
            s.propsFile,
            '--ignore-formatted',
          ],
          { cwd: s.dir, maxBuffer: 16 * 1024 * 1024 },
        ),
      ),
    );
    // The quorum needs a majority up before any node answers: start them all, then wait.
    for (const s of specs) {
      procs.push(
        supervise('java', [...jvmArgs(s.dir, opts.heap ?? '256m'), '-cp', classpath(), 'kafka.Kafka', s.propsFile], {
          cwd: s.dir,
          logFile: s.logFile,
          dir: keep ? undefined : s.dir,
        }),
      );
    }
    const abort = () => {
      const dead = specs.find((_, i) => !procs[i]!.isRunning());
      return dead ? `node ${dead.nodeId} exited` : undefined;
    };
    for (const s of specs) {
      await waitFor(`kafka node ${s.nodeId} on ${host}:${s.port}`, () => canConnect(s.port, host), { timeoutMs, intervalMs: 200, abort });
    }
    const all = specs.map((s) => `${host}:${s.port}`);
    await waitFor(
      `kafka cluster of ${n} nodes`,
      async () => {
        const admin = new Admin({ clientId: 'kafka-backup-probe', bootstrapBrokers: all, retries: 0, connectTimeout: 2000, requestTimeout: 5000 });
        try {
          const md = await admin.metadata({ topics: [] });
          return md.brokers.size === n;
        } finally {
          await admin.close().catch(() => {});
        }
      },
      { timeoutMs, intervalMs: 300, abort },
    );
  } catch (err) {
    const logs = specs.map((s) => `--- tail of ${s.logFile} ---\n${tail(s.logFile, 40)}`).join('\n');
    await cleanup();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
  return {
    bootstraps: specs.map((s) => `${host}:${s.port}`),
    clusterId,
    nodes: specs.map((s, i) => ({
      nodeId: s.nodeId,
      bootstrap: `${host}:${s.port}`,
      dir: s.dir,
      logFile: s.logFile,
      isRunning: () => procs[i]!.isRunning(),
      pause: () => process.kill(-procs[i]!.pid, 'SIGSTOP'),
      resume: () => process.kill(-procs[i]!.pid, 'SIGCONT'),
    })),
    stop: cleanup,
  };
}
