/** util/units.ts formatCount: what `toLocaleString('en-US')` prints, without ICU for integers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatCount } from '../../src/util/units.js';

describe('formatCount', () => {
  it('prints integers as toLocaleString("en-US") does', () => {
    const values = [0, -0, 1, -1, 12, 999, 1000, -1000, 9999, 10000, 123456, 999999, 1000000, 1234567, -7654321, 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1)];
    for (let k = 0; k < 500; k++) values.push(Math.floor((Math.random() - 0.5) * 10 ** (1 + (k % 16))));
    for (const n of values) assert.equal(formatCount(n), n.toLocaleString('en-US'), String(n));
  });

  it('leaves fractions, huge numbers, NaN and infinities to toLocaleString', () => {
    for (const n of [0.5, 1.0005, 2.675, 999999.9999, -1234.5, 2 ** 53, 1e21, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.equal(formatCount(n), n.toLocaleString('en-US'), String(n));
    }
  });
});
