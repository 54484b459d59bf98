/**
 * Preloaded into every test file's process (scripts/run-tests.ts). Without --test-force-exit (which
 * loses verdicts, nodejs/node#64833), a file whose code leaves a socket or timer open would hang the
 * whole run. After the file's last test, this waits for the process to exit on its own; if it has not
 * after 30 s, it names what is still open and exits with code 1, so the leak fails the run visibly.
 */
import { after } from 'node:test';

if (process.env.NODE_TEST_CONTEXT === 'child-v8') {
  after(() => {
    setTimeout(() => {
      const open = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'PipeWrap'); // PipeWrap: our own stdio
      process.stderr.write(`exit-guard: ${process.argv[1] ?? 'test file'} did not exit 30 s after its last test; still open: ${open.join(', ') || 'timers'}\n`);
      process.exit(1);
    }, 30_000).unref();
  });
}
