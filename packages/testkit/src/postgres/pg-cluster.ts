import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` in a temporary folder, a
 * server on a free 127.0.0.1 port (and a unix socket inside the folder), trust authentication
 * on loopback only, fsync and synchronous_commit on (durability is what the tests claim).
 * Running as root (this machine, CI), every server program runs as the `postgres` OS user,
 * which owns the folder: PostgreSQL refuses to run as root.
 */

/** Where the server programs are, or why there are none. */
export interface PgBinaries {
  readonly dir: string;
  readonly version: string;
}

const INSTALL_NOTE = 'install PostgreSQL (Debian: apt-get install postgresql; .ci/run does)';

/** Whether this run is CI (`CI` set and not false/0), where missing server programs are a failure, not a skip. */
export const inCi = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false' && process.env['CI'] !== '0';

/** The PostgreSQL server programs of this machine: $CKPT_PG_BIN, the newest /usr/lib/postgresql/N/bin, or `pg_config --bindir`. */
export function findPgBinaries(): PgBinaries | undefined {
  const candidates: string[] = [];
  if (process.env['CKPT_PG_BIN']) candidates.push(process.env['CKPT_PG_BIN']);
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
  for (const dir of candidates) {
    if (!['initdb', 'pg_ctl', 'postgres', 'psql'].every((name) => existsSync(join(dir, name)))) continue;
    const version = spawnSync(join(dir, 'postgres'), ['--version'], { encoding: 'utf8' });
    if (version.status === 0) return { dir, version: version.stdout.trim() };
  }
  return undefined;
}

/** The binaries, and what a test file does without them: skip (with a note) locally, fail under CI. */
export const pgBinaries = findPgBinaries();
/** True when the PostgreSQL tests must be skipped: no server programs, and not CI. */
export const pgSkipped = pgBinaries === undefined && !inCi;
/** Why the tests were skipped, for the test names and the output. */
export const PG_SKIP_NOTE = `no PostgreSQL server programs (initdb, pg_ctl, postgres, psql) on this machine: ${INSTALL_NOTE}; CI=true makes their absence a failure`;
if (pgSkipped) console.warn(`skipped: the PostgreSQL store tests — ${PG_SKIP_NOTE}`);

/** A free TCP port on 127.0.0.1 (the kernel's choice; the caller retries if another process takes it first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error('running as root, and there is no "postgres" OS user to run the server as (apt-get install postgresql creates it)');
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function run(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { readonly timeoutMs: number },
): Promise<{ code: number | null; output: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => ((output += chunk.toString()), (stdout += chunk.toString())));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took over ${options.timeoutMs} ms:\n${output}`));
    }, options.timeoutMs);
    child.once('error', (error) => (clearTimeout(timer), reject(error)));
    child.once('close', (code) => (clearTimeout(timer), resolve({ code, output, stdout })));
  });
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Bound on initdb + start, in ms (default 60 s). */
  readonly startTimeoutMs?: number;
  /** Extra `-c name=value` server settings. */
  readonly settings?: Readonly<Record<string, string>>;
}

/** A running throwaway cluster. */
export class PgCluster {
  private running = false;

  private constructor(
    readonly binaries: PgBinaries,
    /** The temporary folder: data/, sock/, server.log. */
    readonly dir: string,
    readonly port: number,
    private readonly runAs: RunAs | undefined,
    private readonly settings: Readonly<Record<string, string>>,
    private readonly timeoutMs: number,
  ) {}

  /** Superuser connection URL over TCP (database `postgres`, user `ckpt`, trust on loopback). */
  get url(): string {
    return `postgres://ckpt@127.0.0.1:${this.port}/postgres`;
  }

  /** The URL of a database of this cluster (see {@link createDatabase}). */
  urlOf(database: string, user = 'ckpt'): string {
    return `postgres://${user}@127.0.0.1:${this.port}/${database}`;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get socketDir(): string {
    return join(this.dir, 'sock');
  }

  /** initdb, then start. Cleans up after itself when either fails. */
  static async start(options: ClusterOptions = {}): Promise<PgCluster> {
    if (pgBinaries === undefined) throw new Error(`cannot start a PostgreSQL cluster: ${PG_SKIP_NOTE}`);
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const runAs = postgresUser();
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-pg-'));
    mkdirSync(join(dir, 'sock'));
    if (runAs) for (const path of [dir, join(dir, 'sock')]) chownSync(path, runAs.uid, runAs.gid);
    const settings = {
      listen_addresses: '127.0.0.1',
      fsync: 'on',
      synchronous_commit: 'on',
      max_connections: '120',
      shared_buffers: '32MB',
      ...options.settings,
    };
    for (let tries = 0; ; tries++) {
      const cluster = new PgCluster(pgBinaries, dir, await freePort(), runAs, settings, timeoutMs);
      try {
        if (tries === 0) await cluster.initdb();
        await cluster.startServer();
        // A test process that dies without its afterAll (a crash, a timeout kill) must not leave
        // a server running: pg_ctl detaches it. Best effort, synchronous, at exit.
        const onExit = () => cluster.stopAtExit();
        process.once('exit', onExit);
        cluster.removeExitHook = () => process.off('exit', onExit);
        return cluster;
      } catch (error) {
        // Another process may have taken the port between freePort() and the server's bind.
        if (tries < 3 && /could not bind|address already in use/i.test(String((error as Error).message))) continue;
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  private spawnOptions(): SpawnOptions {
    return {
      ...(this.runAs && { uid: this.runAs.uid, gid: this.runAs.gid }),
      // The server's own locale and environment, independent of the caller's.
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: this.dir },
      cwd: this.dir,
    };
  }

  private async initdb(): Promise<void> {
    const result = await run(
      join(this.binaries.dir, 'initdb'),
      ['-D', this.dataDir, '-U', 'ckpt', '--auth=trust', '--encoding=UTF8', '--no-instructions', '--no-sync'],
      { ...this.spawnOptions(), timeoutMs: this.timeoutMs },
    );
    if (result.code !== 0) throw new Error(`initdb failed (exit ${result.code}):\n${result.output}`);
    // Trust on loopback only: no other host may connect at all.
    writeFileSync(join(this.dataDir, 'pg_hba.conf'), ['local all all trust', 'host all all 127.0.0.1/32 trust', ''].join('\n'));
    if (this.runAs) chownSync(join(this.dataDir, 'pg_hba.conf'), this.runAs.uid, this.runAs.gid);
  }

  private async startServer(): Promise<void> {
    const options = [`-p ${this.port}`, `-k ${this.socketDir}`, ...Object.entries(this.settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
    const seconds = Math.max(1, Math.ceil(this.timeoutMs / 1000));
    const result = await run(
      join(this.binaries.dir, 'pg_ctl'),
      ['start', '-D', this.dataDir, '-w', '-t', String(seconds), '-l', join(this.dir, 'server.log'), '-o', options],
      { ...this.spawnOptions(), timeoutMs: this.timeoutMs + 5_000 },
    );
    if (result.code !== 0) {
      const log = existsSync(join(this.dir, 'server.log')) ? readFileSync(join(this.dir, 'server.log'), 'utf8') : '';
      throw new Error(`pg_ctl start failed (exit ${result.code}):\n${result.output}\n${log}`);
    }
    this.running = true;
  }

  /** Starts the server again after {@link stop} (same data, same port). */
  async restart(): Promise<void> {
    if (this.running) await this.stop('fast');
    await this.startServer();
  }

  /** Stops the server: `fast` rolls back open transactions; `immediate` is a crash (recovery at the next start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.running) return;
    const result = await run(join(this.binaries.dir, 'pg_ctl'), ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', '30'], {
      ...this.spawnOptions(),
      timeoutMs: 40_000,
    });
    if (result.code !== 0) throw new Error(`pg_ctl stop -m ${mode} failed (exit ${result.code}):\n${result.output}`);
    this.running = false;
  }

  private removeExitHook: () => void = () => undefined;

  private stopAtExit(): void {
    if (!this.running) return;
    spawnSync(join(this.binaries.dir, 'pg_ctl'), ['stop', '-D', this.dataDir, '-m', 'immediate', '-w', '-t', '10'], {
      ...this.spawnOptions(),
      stdio: 'ignore',
    });
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops the server (fast; immediate if that fails) and removes the folder. Never throws. */
  async destroy(): Promise<void> {
    this.removeExitHook();
    try {
      await this.stop('fast');
    } catch {
      await this.stop('immediate').catch(() => undefined);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Runs `text` (one or more SQL statements) as the superuser through the cluster's own `psql`,
   * so that a test needs no client library to administer the server (kill sessions, backdate
   * rows, dump a schema). Resolves with the output, unaligned, tuples only; rejects with psql's
   * message when a statement fails.
   */
  async sql(text: string, database = 'postgres'): Promise<string> {
    const args = [
      '-X',
      '-q',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-U',
      'ckpt',
      '-d',
      database,
      '-c',
      text,
    ];
    const result = await run(join(this.binaries.dir, 'psql'), args, {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', PGAPPNAME: 'ckpt test admin' },
      timeoutMs: 30_000,
    });
    if (result.code !== 0) throw new Error(`psql failed (exit ${result.code}) on: ${text}\n${result.output}`);
    return result.stdout;
  }

  /** The server's log so far (for failure messages). */
  serverLog(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }
}
