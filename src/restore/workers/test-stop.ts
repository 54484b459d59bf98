import { writeFileSync } from 'node:fs';
import type { TransactionStep } from '../../kafka/transactions.js';

/*
  Test-only: KAFKA_BACKUP_TEST_STOP=<step>:<file> makes a restore worker stop itself (SIGSTOP) at one
  step of a chunk's transaction, so a test can make the zombie and crash cases happen exactly:
    before-add      the state swap succeeded, AddPartitionsToTxn not sent yet
    before-produce  the transaction is open, the chunk's produce request not sent yet (the zombie window
                    the store's swap cannot close)
    before-commit   the chunk is appended, EndTxn not sent yet
    after-commit    the chunk is committed, the state not swapped yet
  It does so once, on a partition it is mid-way through, after writing the partition's key to <file> so
  the test knows; the test then SIGCONTs or SIGKILLs it (test/integration/restore-workers.test.ts).
  Unset (always, outside those tests), this is a no-op.
*/

const ENV = 'KAFKA_BACKUP_TEST_STOP';
let fired = false;

/** The hook for one target partition: stops the process at the step once `produced` > 0 (a partition half written). */
export function testStopHook(partitionKey: string, produced: () => number): ((step: TransactionStep) => void) | undefined {
  const spec = process.env[ENV];
  if (!spec) return undefined;
  const at = spec.indexOf(':');
  const stopAt = spec.slice(0, at);
  const file = spec.slice(at + 1);
  return (step) => {
    if (fired || step !== stopAt || produced() === 0) return;
    fired = true;
    writeFileSync(file, partitionKey);
    process.kill(process.pid, 'SIGSTOP');
  };
}
