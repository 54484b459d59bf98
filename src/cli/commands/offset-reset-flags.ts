/**
 * Flags shared by the offset commands (`offset-reset *`, `offset-reset-bulk`, `offset-rollback *`),
 * as the seed tool spells them: comma lists (`-g a,b -g c`), and the security flags
 * `--security-protocol` / `--sasl-mechanism` with credentials from the environment
 * (KAFKA_USERNAME, KAFKA_PASSWORD; CA file KAFKA_SSL_CA_CERT; mechanism default KAFKA_SASL_MECHANISM).
 */
import type { Command } from 'commander';
import { plaintextPasswordWarning, type KafkaConnectionSettings, type KafkaSecurity } from '../../kafka/security.js';
import { logger } from '../../util/logger.js';
import { UserError } from '../../util/errors.js';

/** Commander parser for comma lists that may also be repeated. */
export function commaList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

export interface SecurityFlags {
  securityProtocol?: string;
  saslMechanism?: string;
}

export function addSecurityFlags(cmd: Command): Command {
  return cmd
    .option('--security-protocol <protocol>', 'PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (any case); CA file from env KAFKA_SSL_CA_CERT')
    .option(
      '--sasl-mechanism <mechanism>',
      'PLAIN, SCRAM-SHA-256 (SCRAM-SHA256) or SCRAM-SHA-512 (SCRAM-SHA512), any case; default env KAFKA_SASL_MECHANISM, else PLAIN; user and password from env KAFKA_USERNAME / KAFKA_PASSWORD',
    );
}

const PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;

export function parseSecurityProtocol(v: string | undefined): NonNullable<KafkaSecurity['security_protocol']> {
  if (v === undefined || v.trim() === '') return 'PLAINTEXT';
  const u = v.trim().toUpperCase().replace(/-/g, '_');
  const hit = PROTOCOLS.find((p) => p === u);
  if (!hit) throw new UserError('USAGE', `--security-protocol: "${v}" is not one of ${PROTOCOLS.join(', ')}`);
  return hit;
}

export function parseSaslMechanism(v: string): NonNullable<KafkaSecurity['sasl_mechanism']> {
  const u = v.trim().toUpperCase().replace(/_/g, '-');
  if (u === 'PLAIN') return 'PLAIN';
  if (u === 'SCRAM-SHA256' || u === 'SCRAM-SHA-256') return 'SCRAM-SHA-256';
  if (u === 'SCRAM-SHA512' || u === 'SCRAM-SHA-512') return 'SCRAM-SHA-512';
  if (u === 'GSSAPI') throw new UserError('USAGE', '--sasl-mechanism: GSSAPI (Kerberos) is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512');
  throw new UserError('USAGE', `--sasl-mechanism: "${v}" is not one of PLAIN, SCRAM-SHA-256 (SCRAM-SHA256), SCRAM-SHA-512 (SCRAM-SHA512)`);
}

/** Connection settings from --bootstrap-servers and the security flags (+ environment). */
export function kafkaSettings(
  bootstrapServers: string[] | undefined,
  flags: SecurityFlags,
  env: NodeJS.ProcessEnv = process.env,
  what = 'this command',
): KafkaConnectionSettings {
  if (!bootstrapServers || bootstrapServers.length === 0)
    throw new UserError('USAGE', `--bootstrap-servers is required for ${what} (the target cluster, host:port[,host:port])`);
  const protocol = parseSecurityProtocol(flags.securityProtocol);
  const security: KafkaSecurity = { security_protocol: protocol };
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    const mech = flags.saslMechanism ?? env.KAFKA_SASL_MECHANISM;
    security.sasl_mechanism = mech ? parseSaslMechanism(mech) : 'PLAIN';
    const user = env.KAFKA_USERNAME;
    const pass = env.KAFKA_PASSWORD;
    if (!user || pass === undefined)
      throw new UserError(
        'USAGE',
        `--security-protocol ${protocol}: set KAFKA_USERNAME and KAFKA_PASSWORD in the environment (credentials have no flags, so they stay out of shell history)`,
      );
    security.sasl_username = user;
    security.sasl_password = pass;
    const clearPassword = plaintextPasswordWarning(
      `--security-protocol ${protocol} --sasl-mechanism ${security.sasl_mechanism}${mech ? '' : ' (the default: no --sasl-mechanism, no KAFKA_SASL_MECHANISM)'}`,
      security,
    );
    if (clearPassword) logger().warn(clearPassword);
  } else if (flags.saslMechanism) {
    parseSaslMechanism(flags.saslMechanism); // still reject a misspelt mechanism
  }
  if ((protocol === 'SSL' || protocol === 'SASL_SSL') && env.KAFKA_SSL_CA_CERT) security.ssl_ca_location = env.KAFKA_SSL_CA_CERT;
  return { bootstrapServers, security, clientId: 'kafka-backup-offsets' };
}
