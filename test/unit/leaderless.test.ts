/**
 * backup/stalls.ts leaderlessOrFailure: a partition without a leader is a stall to wait out only while the
 * cluster answers. The case it guards: a broker stopping reports its partitions leaderless, then stops
 * answering; the cached "no leader" then held a backup worker, which never counted the outage for its
 * circuit breaker (workers-breaker.test.ts failed on this in a CI run: one worker never stopped).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaderlessOrFailure } from '../../src/backup/stalls.js';
import { isTransient } from '../../src/backup/transient.js';
import { ErrorCode } from '../../src/kafka/errors.js';
import { BrokerUnreachableError, KafkaError, StorageError } from '../../src/util/errors.js';

const where = { topic: 'orders', partition: 3 };
const noLeader = (): KafkaError =>
  new KafkaError('fetch orders/3 failed after 8 retries: orders/3 has no leader', undefined, where, {
    cause: new KafkaError('orders/3 has no leader (LEADER_NOT_AVAILABLE)', ErrorCode.LEADER_NOT_AVAILABLE, where),
  });

describe('leaderlessOrFailure', () => {
  it('a partition without a leader, in a cluster that answers: a stall, and the cluster was asked again', async () => {
    let asked = 0;
    const err = noLeader();
    const r = await leaderlessOrFailure(err, where, async () => {
      asked++;
    });
    assert.deepEqual(r, { leaderless: true, failure: err });
    assert.equal(asked, 1);
  });

  it('a partition without a leader, in a cluster that does not answer: a broker failure for the circuit breaker', async () => {
    const down = new BrokerUnreachableError('no bootstrap server reachable (127.0.0.1:9092): connect ECONNREFUSED');
    const r = await leaderlessOrFailure(noLeader(), where, () => Promise.reject(down));
    assert.equal(r.leaderless, false);
    assert.ok(r.failure instanceof KafkaError);
    assert.equal(
      (r.failure as Error).message,
      'orders/3: no leader known and the cluster does not answer (no bootstrap server reachable (127.0.0.1:9092): connect ECONNREFUSED)',
    );
    // What the breaker rides through (the unreachable error alone is a user's mistake: a wrong address at start).
    assert.equal(isTransient(r.failure), true);
    assert.equal(isTransient(down), false);
  });

  it('any other failure is left as it is, and the cluster is not asked', async () => {
    const err = new StorageError('SLOW_DOWN', 'put failed: SlowDown');
    let asked = 0;
    const r = await leaderlessOrFailure(err, where, async () => {
      asked++;
    });
    assert.deepEqual(r, { leaderless: false, failure: err });
    assert.equal(asked, 0);
  });
});
