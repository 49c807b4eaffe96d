/**
 * The peers that are not in the workspace: better-sqlite3 (bench/ is its own small npm project,
 * installed on first run) and rsync (from Debian packages when missing and we may install).
 * Whatever cannot be had is recorded with its reason; the suites then mark that peer
 * unavailable instead of failing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const lastLines = (text, n = 3) =>
  String(text ?? '')
    .trim()
    .split('\n')
    .slice(-n)
    .join(' | ');

/**
 * Loads better-sqlite3 from bench/node_modules, running `npm install --prefix bench` first when
 * it is missing and `install` is true. It may compile from source with node-gyp; the Node
 * headers of the running Node are passed so no header download is needed.
 */
export function loadSqlite(benchDir, { install, log }) {
  const require = createRequire(join(benchDir, 'package.json'));
  const tryLoad = () => {
    try {
      const Database = require('better-sqlite3');
      const db = new Database(':memory:');
      const version = db.prepare('select sqlite_version() as v').get().v;
      db.close();
      const pkg = require('better-sqlite3/package.json');
      return { available: true, Database, version: `better-sqlite3 ${pkg.version}, SQLite ${version}` };
    } catch (error) {
      return { available: false, reason: `better-sqlite3 cannot be loaded: ${lastLines(error.message, 1)}` };
    }
  };
  let loaded = tryLoad();
  if (loaded.available || !install) {
    if (!loaded.available && !install) loaded.reason += ' (install skipped: run `node bench/run.mjs` without --no-install)';
    return loaded;
  }
  log('installing better-sqlite3 into bench/node_modules (npm install --prefix bench; may compile from source)');
  const nodeDir = dirname(dirname(process.execPath));
  const env = { ...process.env };
  if (existsSync(join(nodeDir, 'include', 'node', 'node.h'))) env.npm_config_nodedir = nodeDir;
  const npm = spawnSync('npm', ['install', '--prefix', benchDir, '--no-audit', '--no-fund'], { env, encoding: 'utf8', timeout: 10 * 60_000 });
  if (npm.status !== 0) {
    return { available: false, reason: `npm install of better-sqlite3 failed (exit ${npm.status ?? npm.signal}): ${lastLines(npm.stderr)}` };
  }
  loaded = tryLoad();
  return loaded;
}

function which(command) {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** rsync, installed with apt-get when missing, we are root and `install` is true. */
export function ensureRsync({ install, log }) {
  let path = which('rsync');
  if (path === undefined && install && process.getuid?.() === 0 && which('apt-get') !== undefined) {
    log('rsync is missing: apt-get install -y rsync');
    let apt = spawnSync('apt-get', ['install', '-y', '-q', 'rsync'], { encoding: 'utf8', timeout: 5 * 60_000 });
    if (apt.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8', timeout: 5 * 60_000 });
      apt = spawnSync('apt-get', ['install', '-y', '-q', 'rsync'], { encoding: 'utf8', timeout: 5 * 60_000 });
    }
    path = which('rsync');
    if (path === undefined) return { available: false, reason: `apt-get install rsync failed: ${lastLines(apt.stderr)}` };
  }
  if (path === undefined) {
    return {
      available: false,
      reason: install ? 'rsync is not installed and cannot be installed here (not root or no apt-get)' : 'rsync is not installed (install skipped)',
    };
  }
  const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/\s+/g, ' ').trim();
  return { available: true, path, version };
}

/** Whether `command` exists (for strace and friends). */
export function hasCommand(command) {
  return which(command) !== undefined;
}
