import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackupLease, LeaseLostError, leaseKey, type LeaseRecord } from '../../src/backup/lease.js';
import { ForwardingStore } from '../../src/storage/forwarding.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { ObjectStore, VersionedObject } from '../../src/storage/store.js';

async function readLease(store: ObjectStore, backupId: string): Promise<LeaseRecord | undefined> {
  return JSON.parse((await store.get(leaseKey(backupId))).toString()) as LeaseRecord;
}

/** A store on which another process writes the lease right after the holder's renewal has read it. */
class RacingStore extends ForwardingStore {
  armed = false;
  override async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const got = await super.getVersioned(key);
    if (this.armed && key.endsWith('lease.json') && got) {
      this.armed = false;
      const theirs = { ...JSON.parse(got.data.toString('utf8')), owner_id: 'taker', host: 'other-host', pid: 7, acquired_at: Date.now() };
      await this.inner.put(key, Buffer.from(JSON.stringify(theirs)));
    }
    return got;
  }
}

test("a lease replaced between the renewal's read and its write is lost, and the other process's lease is left as it wrote it", async () => {
  const store = new RacingStore(new MemoryStore());
  const lease = await BackupLease.acquire(store, 'bk', { ttlMs: 60_000 });
  store.armed = true;
  await lease.renew();
  assert.equal(lease.lost, true, 'the holder knows it lost the lease');
  assert.match(lease.lostMessage(), /it was replaced while renewing; it is now held by host other-host, pid 7/);
  const stored = await readLease(store, 'bk');
  assert.equal(stored?.owner_id, 'taker', 'the renewal did not overwrite the taker');
  assert.throws(() => lease.check(), LeaseLostError);
  await lease.release();
  assert.equal((await readLease(store, 'bk'))?.owner_id, 'taker', 'release leaves the taker’s lease');
});
