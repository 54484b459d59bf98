import { main } from './main.js';

process.exitCode = await main(process.argv);
// The command is done and its output written. Whatever a library may still hold open (a socket, a
// timer) must not keep the process alive: unref'd, this only fires if the event loop does not drain.
setTimeout(() => process.exit(), 5000).unref();
