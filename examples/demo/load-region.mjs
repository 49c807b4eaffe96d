// Loads one region (a stand-in: counts its lines). Fails once for a region named in FAIL_ONCE_DIR,
// to show a forced failure and the restart that follows it.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [region, failOnceDir] = process.argv.slice(2);
await sleep(400); // loading takes a while
const marker = join(failOnceDir, region);
if (existsSync(marker)) {
  rmSync(marker);
  console.error(`the ${region} warehouse did not answer (a simulated outage)`);
  process.exit(1);
}
console.log(`loaded ${region}`);
