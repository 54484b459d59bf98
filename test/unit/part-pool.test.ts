import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PartPool } from '../../src/storage/part-pool.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('PartPool', () => {
  it('lends a returned part again instead of allocating', async () => {
    const pool = new PartPool({ partSize: 1024, maxInFlight: 2, maxIdle: 4 });
    const a = await pool.take();
    const b = await pool.take();
    assert.equal(a.buf.length, 1024);
    assert.notEqual(a.buf, b.buf);
    assert.equal(pool.outstanding, 2);
    a.done();
    const c = await pool.take();
    assert.equal(c.buf, a.buf);
    c.done();
    b.done();
    for (let i = 0; i < 10; i++) (await pool.take()).done();
    assert.equal(pool.allocated, 2);
    assert.equal(pool.outstanding, 0);
    assert.equal(pool.peakOutstanding, 2);
  });

  it('keeps at most maxIdle returned parts, and never lends again a part given back as not reusable', async () => {
    const pool = new PartPool({ partSize: 16, maxInFlight: 3, maxIdle: 1 });
    const [failed, x, y] = [await pool.take(), await pool.take(), await pool.take()];
    failed.done(false);
    x.done();
    y.done(); // over maxIdle: dropped
    const again = [await pool.take(), await pool.take(), await pool.take()];
    assert.ok(!again.some((l) => l.buf === failed.buf), 'a part whose request failed was lent again');
    assert.equal(again.filter((l) => l.buf === x.buf).length, 1);
    assert.ok(!again.some((l) => l.buf === y.buf));
    assert.equal(pool.allocated, 5);
  });

  it('never lends more than maxInFlight parts at once, across all callers, and serves waiters in order', async () => {
    const pool = new PartPool({ partSize: 16, maxInFlight: 3, maxIdle: 8 });
    let now = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const lease = await pool.take();
        order.push(i);
        now++;
        most = Math.max(most, now);
        for (let k = 0; k <= i % 4; k++) await tick();
        now--;
        lease.done();
        lease.done(); // a second call must not free a second slot
      }),
    );
    assert.equal(most, 3);
    assert.equal(pool.peakOutstanding, 3);
    assert.equal(pool.outstanding, 0);
    assert.ok(pool.allocated <= 3, `${pool.allocated} parts allocated for 3 slots`);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
  });
});
