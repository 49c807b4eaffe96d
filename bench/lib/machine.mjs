/** Facts about the machine a result was taken on: without them a figure cannot be compared. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

function tryRun(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** The block device and file system holding `dir` (from df), and the device's rotational flag. */
function diskOf(dir) {
  const line = tryRun('df', ['-PT', dir])?.split('\n')[1];
  if (line === undefined) return { device: 'unknown', fs: 'unknown' };
  const [device, fsType, , , , , mount] = line.split(/\s+/);
  const base = device.replace('/dev/', '').replace(/p?\d+$/, '');
  let rotational;
  try {
    rotational = readFileSync(`/sys/block/${base}/queue/rotational`, 'utf8').trim() === '1';
  } catch {
    rotational = undefined;
  }
  let model;
  try {
    model = readFileSync(`/sys/block/${base}/device/model`, 'utf8').trim() || undefined;
  } catch {
    model = undefined;
  }
  return { device, fs: fsType, mount, ...(rotational !== undefined && { rotational }), ...(model && { model }) };
}

/** CPU, cores, memory, kernel, Node, and the disk of the temporary directory the suites use. */
export function machineFacts(tempDir) {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((v) => Math.round(v * 100) / 100),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    kernel: os.release(),
    node: process.version,
    v8: process.versions.v8,
    tempDir,
    disk: diskOf(tempDir),
  };
}

/** The commit the benchmarked code was built from, and whether the tree had changes. */
export function gitFacts(root) {
  const commit = tryRun('git', ['-C', root, 'rev-parse', 'HEAD']);
  const branch = tryRun('git', ['-C', root, 'rev-parse', '--abbrev-ref', 'HEAD']);
  const status = tryRun('git', ['-C', root, 'status', '--porcelain', '--', 'packages']);
  return { commit: commit ?? null, branch: branch ?? null, packagesDirty: status === undefined ? null : status.length > 0 };
}
