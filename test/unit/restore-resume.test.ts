import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/util/errors.js';
import { checkContiguous, ResumeTail, targetRecord, type RecordContent } from '../../src/restore/resume.js';

const rec = (key: string, value: string | null, ts: bigint, headers: [string, string | null][] = []): RecordContent => ({
  key: Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  headers: headers.map(([k, v]) => ({ key: Buffer.from(k), value: v === null ? null : Buffer.from(v) })),
  timestamp: ts,
});

const ours = [
  rec('a', '1', 10n),
  rec('b', null, 11n, [
    ['h', 'x'],
    ['h', null],
  ]),
  rec('c', '', 12n),
];

test('the records past the checkpoint are recognised when they are the next ones of the restore', () => {
  const tail = ResumeTail.of(
    't/0',
    ours.map((r, i) => targetRecord(100 + i, r, true)),
    103,
    'state.json',
  );
  for (const [i, r] of ours.entries()) tail.match(r, 500 + i);
  assert.equal(tail.pending, false);
  tail.finish();
});

test('a foreign record is refused, naming the partition and its offset', () => {
  const target = [targetRecord(100, ours[0]!, true), targetRecord(101, rec('intruder', '1', 11n), true)];
  const tail = ResumeTail.of('t/3', target, 102, 'state.json');
  tail.match(ours[0]!, 500);
  assert.throws(
    () => tail.match(ours[1]!, 501),
    (e: unknown) =>
      e instanceof UserError &&
      /^t\/3: the record at offset 101 is not the record this restore would write there \(source offset 501\): another producer/.test(e.message) &&
      /state\.json/.test(e.message),
  );
});

test('content differences that count: a header, a null vs empty value, the CreateTime timestamp', () => {
  const cases: RecordContent[] = [rec('b', null, 11n, [['h', 'x']]), rec('c', null, 12n), rec('a', '1', 99n)];
  const expected = [ours[1]!, ours[2]!, ours[0]!];
  cases.forEach((c, i) => {
    const tail = ResumeTail.of('t/0', [targetRecord(7, c, true)], 8, 's');
    assert.throws(() => tail.match(expected[i]!, 0), /offset 7 is not the record/);
  });
});

test('a LogAppendTime target: the broker stamped the timestamp, so it is not compared', () => {
  const tail = ResumeTail.of('t/0', [targetRecord(0, { ...ours[0]!, timestamp: 1_800_000_000_000n }, false)], 1, 's');
  tail.match(ours[0]!, 0);
  tail.finish();
});

test('a transaction marker, or records past the end of the restore, are not ours', () => {
  const marker = ResumeTail.of('t/1', [{ offset: 40 }], 41, 's');
  assert.throws(() => marker.match(ours[0]!, 0), /t\/1: the record at offset 40 is not the record/);
  const extra = ResumeTail.of('t/1', [targetRecord(40, ours[0]!, true), targetRecord(41, ours[1]!, true)], 42, 's');
  extra.match(ours[0]!, 0);
  assert.throws(() => extra.finish(), /t\/1: the record at offset 41 lies past the last record this restore writes/);
});

test('a batch not placed right after our previous record stops the restore; acks 0 (no offset) is not checked', () => {
  checkContiguous('t/0', 120n, 120);
  checkContiguous('t/0', undefined, 120);
  assert.throws(
    () => checkContiguous('t/0', 121n, 120),
    /t\/0: the broker put this restore's batch at offset 121, but its previous record ends at 120: another producer/,
  );
});
