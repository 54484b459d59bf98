/** Port helpers for tests (thin re-export of scripts/proc.ts). */
export { freePort, freePorts, canConnect, waitFor, sleep } from '../../scripts/proc.js';
