import { writeFileSync } from 'node:fs';

/*
  Test-only: KAFKA_BACKUP_TEST_STOP_BEFORE_PRODUCE=<file> makes a restore worker stop itself (SIGSTOP)
  at the exact instant of the zombie case: its state write succeeded and its transaction is open
  (AddPartitionsToTxn done) but its produce request is not sent yet. It does so once, on a partition
  it is mid-way through, after writing the partition's key to <file> so the test knows. The test then
  leaves it stopped past the session timeout and SIGCONTs it (test/integration/restore-fence.test.ts).
  Unset (always, outside that test), this is a no-op.
*/

const ENV = 'KAFKA_BACKUP_TEST_STOP_BEFORE_PRODUCE';
let fired = false;

/** The hook for one target partition: stops the process once `produced` > 0 (a partition half written). */
export function testStopBeforeProduce(partitionKey: string, produced: () => number): (() => void) | undefined {
  const file = process.env[ENV];
  if (!file) return undefined;
  return () => {
    if (fired || produced() === 0) return;
    fired = true;
    writeFileSync(file, partitionKey);
    process.kill(process.pid, 'SIGSTOP');
  };
}
