import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OpenSegmentBudget } from '../../src/backup/open-segment-budget.js';

describe('OpenSegmentBudget', () => {
  it('asks nobody to roll while the total is within the limit', () => {
    const b = new OpenSegmentBudget(100);
    const [x, y] = [{}, {}];
    b.set(x, 60);
    b.set(y, 40);
    assert.equal(b.total, 100);
    assert.equal(b.shouldRoll(x), false);
    assert.equal(b.shouldRoll(y), false);
  });

  it('over the limit, segments at or above the average roll, smaller ones do not', () => {
    const b = new OpenSegmentBudget(100);
    const [big, mid, small] = [{}, {}, {}];
    b.set(big, 70);
    b.set(mid, 40);
    b.set(small, 10);
    assert.equal(b.total, 120);
    assert.equal(b.shouldRoll(big), true);
    assert.equal(b.shouldRoll(mid), true); // 40 >= 120 / 3
    assert.equal(b.shouldRoll(small), false);
    // Rolling the big one brings the total back under the limit.
    b.set(big, 0);
    assert.equal(b.total, 50);
    assert.equal(b.shouldRoll(mid), false);
  });

  it('tracks updates and removals exactly, and an owner with nothing open never rolls', () => {
    const b = new OpenSegmentBudget(10);
    const [x, y] = [{}, {}];
    b.set(x, 5);
    b.set(x, 30);
    b.set(y, 1);
    assert.equal(b.total, 31);
    assert.equal(b.shouldRoll({}), false);
    b.set(x, 0);
    b.set(y, 0);
    assert.equal(b.total, 0);
    assert.throws(() => new OpenSegmentBudget(0), RangeError);
  });
});
