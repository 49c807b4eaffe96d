// For the kill harness's own test: on its first run (no marker file yet) it starts a
// grandchild that never exits, prints {"type":"grandchild","pid":...}, and waits forever; on
// later runs it exits 0. Usage: node spawning-job.mjs <marker-file>
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

const marker = process.argv[2];
if (existsSync(marker)) process.exit(0);
writeFileSync(marker, 'started\n');
const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
process.stdout.write(`${JSON.stringify({ type: 'grandchild', pid: grandchild.pid })}\n`);
setInterval(() => {}, 1000);
