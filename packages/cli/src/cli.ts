/**
 * The `ckpt` command, as a function of its arguments. Each verb's module is imported only when that verb runs, so
 * `ckpt --version` loads commander and nothing else.
 */
import { createRequire } from 'node:module';
import type { HashAlgorithm } from '@ckpt/file-transfer';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, exitCodeOf } from './exit-codes.js';
import { processIo, reportError } from './output.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * `--hash`'s choices: file-transfer's `HASH_ALGORITHMS`, spelt here because importing the value would load
 * file-transfer before any verb runs; a record keyed by `HashAlgorithm` fails to compile when the two differ.
 */
const HASH_CHOICES = Object.keys({ xxh3: true, sha256: true } satisfies Record<HashAlgorithm, true>);

/** Options of `ckpt run`, as parsed (see docs/cli.md). */
export interface RunVerbOptions {
  readonly checkpointFile?: string;
  readonly usage?: 'never' | 'if-exists' | 'always';
  /** true for --save-checkpoints, false for --no-save-checkpoints, undefined when neither. */
  readonly saveCheckpoints?: boolean;
  readonly checkpointing?: 'on';
  readonly set?: readonly string[];
  readonly config?: readonly string[];
  readonly forceResult?: readonly string[];
  readonly rerun?: readonly string[];
  readonly secretKey?: string;
  readonly json?: boolean;
  /** A store URL (default $CKPT_STORE, else files). */
  readonly store?: string;
  /** Lease of a store's ownership, as text (default 30s). */
  readonly lease?: string;
  /** `--wait` (true: as long as it takes) or `--wait DURATION`. */
  readonly wait?: true | string;
}

/** Options of `ckpt copy`, as parsed; sizes, counts and durations are still text. */
export interface CopyVerbOptions {
  readonly checkpointInterval?: string;
  readonly shortRetries?: string;
  readonly shortWait?: string;
  readonly longRetries?: string;
  readonly longWait?: string;
  readonly netmap?: string;
  readonly node?: string;
  readonly verify?: 'tail' | 'full';
  readonly hash?: HashAlgorithm;
  readonly compress?: boolean;
  readonly rateLimit?: string;
  readonly preserve?: boolean;
  readonly recursive?: boolean;
  readonly progressEvery?: string;
  readonly json?: boolean;
}

/** Options of `ckpt serve`, as parsed. */
export interface ServeVerbOptions {
  readonly root: string;
  readonly listen: string;
  readonly name: string;
  readonly netmap: string;
  readonly retention?: string;
  readonly writeTimeout?: string;
  readonly json?: boolean;
}

/** Files that go with a checkpoint, per runner kind: a partial transfer's data goes with its checkpoint. */
async function companionFiles() {
  const { TRANSFER_KIND, transferCompanions } = await import('@ckpt/file-transfer');
  return new Map([[TRANSFER_KIND, transferCompanions]]);
}

/** Builds the program; `run` resolves with the exit code a verb chose. */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('ckpt')
    .description('Restart jobs from their point of failure: inspect checkpoints, run packages, copy files with checkpoint restart.')
    .version(version, '-V, --version')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run "ckpt help" for the verbs, "ckpt help <verb>" for one verb)')
    .exitOverride();
  program.configureHelp({ sortOptions: false });
  const act =
    <A extends unknown[]>(load: (...args: A) => Promise<number>) =>
    async (...args: A) =>
      setExitCode(await load(...args));

  program
    .command('inspect')
    .description('show the folded state of a checkpoint: identity, attempts, completed units, restart point, variables, cursors')
    .argument('<checkpoint>', 'the checkpoint file to read, or its name with --store (it is not locked or changed)')
    .option('--json', 'print one JSON object instead of the human view')
    .option('--html <file>', 'also write a self-contained HTML page with a timeline of every attempt')
    .option(
      '--store <url>',
      'checkpoints in the store at URL (postgres:// or postgresql://, schema ckpt unless ?schema=NAME) (default: $CKPT_STORE, else files)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  ckpt inspect .ckpt/nightly-load.ckpt\n  ckpt inspect .ckpt/nightly-load.ckpt --json | jq .restartPoint\n  ckpt inspect .ckpt/nightly-load.ckpt --html timeline.html\n  ckpt inspect nightly-load --store postgres://ckpt@db.internal/jobs',
    )
    .action(
      act(async (file: string, options: { json?: boolean; html?: string; store?: string }) =>
        (await import('./commands/inspect.js')).inspectCommand(file, options, processIo),
      ),
    );

  program
    .command('events')
    .description('print every event of a checkpoint log in order, one per line')
    .argument('<checkpoint>', 'the checkpoint file to read, or its name with --store (it is not locked or changed)')
    .option('--json', 'one JSON object per line')
    .option(
      '--store <url>',
      'checkpoints in the store at URL (postgres:// or postgresql://, schema ckpt unless ?schema=NAME) (default: $CKPT_STORE, else files)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  ckpt events .ckpt/nightly-load.ckpt\n  ckpt events .ckpt/nightly-load.ckpt --json | grep unit-failed\n  ckpt events nightly-load --store postgres://ckpt@db.internal/jobs',
    )
    .action(
      act(async (file: string, options: { json?: boolean; store?: string }) =>
        (await import('./commands/events.js')).eventsCommand(file, options, processIo),
      ),
    );

  program
    .command('prune')
    .description("delete expired checkpoints (files and partial transfers under a directory, or a store's); print what was removed")
    .argument('[dir]', 'the directory to search (recursively; symbolic links are not followed); not with --store')
    .option('--older-than <duration>', 'remove checkpoints last written longer ago than this (e.g. 7d), whatever their retention')
    .option('--dry-run', 'print what would be removed, remove nothing')
    .option('--json', 'one JSON object per line')
    .option(
      '--store <url>',
      'checkpoints in the store at URL (postgres:// or postgresql://, schema ckpt unless ?schema=NAME) (default: $CKPT_STORE, else files)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  ckpt prune .ckpt\n  ckpt prune /srv/ckpt --older-than 7d --dry-run\n  ckpt prune --store postgres://ckpt@db.internal/jobs --older-than 7d',
    )
    .action(
      act(async (dir: string | undefined, options: { olderThan?: string; dryRun?: boolean; json?: boolean; store?: string }) =>
        (await import('./commands/prune.js')).pruneCommand(dir, options, processIo, await companionFiles()),
      ),
    );

  program
    .command('list')
    .description('list every checkpoint under a directory or in a store: job, attempts, last outcome, whether its owner is alive, where it restarts')
    .argument(
      '[dir]',
      'the directory to search, recursively (default: the current one; node_modules, .git and symbolic links are skipped); not with --store',
    )
    .option('--json', 'one JSON object per checkpoint, one per line')
    .option(
      '--store <url>',
      'checkpoints in the store at URL (postgres:// or postgresql://, schema ckpt unless ?schema=NAME) (default: $CKPT_STORE, else files)',
    )
    .addHelpText(
      'after',
      '\nNothing is locked or changed. A checkpoint that cannot be read is listed with its problem.\n\nExamples:\n  ckpt list\n  ckpt list /srv/jobs --json | jq \'select(.status == "failure")\'\n  ckpt list --store postgres://ckpt@db.internal/jobs',
    )
    .action(
      act(async (dir: string | undefined, options: { json?: boolean; store?: string }) =>
        (await import('./commands/list.js')).listCommand(dir, options, processIo),
      ),
    );

  program
    .command('run')
    .description('run a control-flow package (YAML or JSON); on failure its checkpoint is kept and a rerun resumes')
    .argument('<package-file>', 'the package file')
    .option('--checkpoint-file <path>', 'overrides checkpoint.file')
    .addOption(new Option('--usage <usage>', 'overrides checkpoint.usage').choices(['never', 'if-exists', 'always']))
    .option('--save-checkpoints', 'overrides checkpoint.save: save')
    .option('--no-save-checkpoints', 'overrides checkpoint.save: do not save')
    .addOption(
      new Option(
        '--checkpointing <on>',
        'save + usage always (as dtexec /CheckPointing on); an explicit --usage or --[no-]save-checkpoints wins',
      ).choices(['on']),
    )
    .option('--set <name=value>', "sets a declared variable's starting value (repeatable)", collect)
    .option('--config <key=value>', "supplies a value for a key of the file's config (repeatable); captured on the first attempt", collect)
    .option('--force-result <step=result>', "forces a step's result: success, failure or completion (repeatable)", collect)
    .option('--rerun <step>', 'on restart, runs this completed step again and every step after it (repeatable)', collect)
    .option('--secret-key <key>', 'passphrase (or base64:<32 bytes>) that seals sensitive variables; default $CKPT_SECRET_KEY')
    .option('--json', 'one JSON event per line on stdout instead of the human view')
    .option(
      '--store <url>',
      'checkpoints in the store at URL (postgres:// or postgresql://, schema ckpt unless ?schema=NAME) (default: $CKPT_STORE, else files)',
    )
    .option(
      '--lease <duration>',
      "in a store: how long this run's ownership lasts unless renewed (it is renewed while the run works); a run that stops renewing is taken over after it (default: 30s)",
    )
    .option(
      '--wait [duration]',
      'when another live run owns the checkpoint: wait for it to finish (at most DURATION when given) instead of refusing; write a bare --wait after the package file (default: refuse at once)',
    )
    .addHelpText(
      'after',
      '\nThe owner of a checkpoint is named by host ($CKPT_HOST, else the host name) and pid.\n\nExamples:\n  ckpt run nightly.yaml\n  ckpt run nightly.yaml --usage if-exists --save-checkpoints --config outDir=/data\n  ckpt run nightly.yaml --checkpointing on --usage if-exists --force-result extract=failure\n  ckpt run nightly.yaml --store postgres://ckpt@db.internal/jobs --usage if-exists --lease 1m',
    )
    .action(act(async (file: string, options: RunVerbOptions) => (await import('./commands/run.js')).runCommand(file, options, processIo)));

  program
    .command('validate')
    .description('check a package without running it: fields, references, cycles, names used in templates and expressions; exit 0 or 2')
    .argument('<package-file>', 'the package file (nothing runs; no checkpoint is opened)')
    .option('--json', 'print one JSON object with every problem')
    .addHelpText('after', '\nExamples:\n  ckpt validate nightly.yaml\n  ckpt validate nightly.yaml --json | jq .problems')
    .action(
      act(async (file: string, options: { json?: boolean }) => (await import('./commands/validate.js')).validateCommand(file, options, processIo)),
    );

  program
    .command('copy')
    .description(
      'copy a file (or, with --recursive, a folder) with checkpoint restart; each destination file appears only when complete and verified',
    )
    .argument('<source>', 'a local path or ckpt://NODE/PATH')
    .argument('<destination>', 'a local path or ckpt://NODE/PATH')
    .option(
      '--recursive',
      'copy the folder SOURCE into the folder DESTINATION (created if missing), one checkpoint per file; symbolic links are skipped',
    )
    .option('--preserve', "give published files the source's mode and modification time (default: mode 0666 & ~umask, mtime now)")
    .option('--checkpoint-interval <size>', 'bytes between checkpoints (e.g. 64MiB; 0 turns checkpoints off) (default: 8MiB)')
    .option('--short-retries <n>', 'short-term retries, tried first (0 disables) (default: 3)')
    .option('--short-wait <duration>', 'wait between short-term retries (default: 2s)')
    .option('--long-retries <n>', 'long-term retries, after the short-term ones (default: 0, none)')
    .option('--long-wait <duration>', 'wait between long-term retries (default: 5m)')
    .option('--rate-limit <rate>', 'bytes per second at most, e.g. 50MiB/s or 50MiB (default: unlimited, or $CKPT_COPY_RATE_LIMIT)')
    .option('--netmap <file>', 'the netmap naming the nodes and their secrets (needed for ckpt:// paths)')
    .option('--node <name>', "this node's own name in the netmap (needed for ckpt:// paths)")
    .addOption(
      new Option(
        '--verify <how>',
        'how much of a kept prefix is re-checked before sending resumes (the published file is checked end to end either way) (default: tail)',
      ).choices(['tail', 'full']),
    )
    .addOption(
      new Option(
        '--hash <algorithm>',
        'the chain hash that checks the copy end to end: xxh3 (XXH3-128, fast) or sha256; a resume keeps the one its copy started with, a node of an older ckpt gets sha256 (default: xxh3)',
      ).choices(HASH_CHOICES),
    )
    .option(
      '--compress',
      'compress data on the wire (remote copies; checkpoints still refer to source offsets) (default: off, or $CKPT_COPY_COMPRESS=1)',
    )
    .option(
      '--progress-every <duration>',
      'without a terminal and without --json: a progress line on stderr this often (default: 5s; 0 turns it off)',
    )
    .option('--json', 'one JSON event per line; the last is transfer-completed')
    .addHelpText(
      'after',
      '\nExamples:\n  ckpt copy big.iso /backup/big.iso --checkpoint-interval 64MiB\n  ckpt copy data.csv ckpt://beta/in/data.csv --netmap netmap.yaml --node alpha --rate-limit 50MiB/s\n  ckpt copy --recursive --preserve /data/export /backup/export',
    )
    .action(
      act(async (source: string, destination: string, options: CopyVerbOptions) =>
        (await import('./commands/copy.js')).copyCommand(source, destination, options, processIo),
      ),
    );

  program
    .command('serve')
    .description('run a node server: receive (and serve, for pulls) files under a root for the nodes of a netmap')
    .requiredOption('--root <dir>', 'every path is confined to this directory')
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:7402')
    .requiredOption('--name <node>', "this node's name in the netmap")
    .requiredOption('--netmap <file>', 'the netmap naming the nodes and their secrets')
    .option('--retention <duration>', 'keep checkpoints of unfinished transfers this long (default: 30d)')
    .option(
      '--write-timeout <duration>',
      'close a connection whose peer takes no data for this long, e.g. a pull that stopped reading; 0 waits for ever (default: 60s)',
    )
    .option('--json', 'one JSON event per line (default: a human line per event)')
    .addHelpText('after', '\nExample:\n  ckpt serve --root /srv/in --listen 127.0.0.1:7402 --name beta --netmap netmap.yaml')
    .action(act(async (options: ServeVerbOptions) => (await import('./commands/serve.js')).serveCommand(options, processIo)));

  const store = program.command('store').description('manage a shared checkpoint store').addHelpCommand(false);
  store
    .command('init')
    .description('create or upgrade the schema of a checkpoint store (idempotent); a schema newer than this ckpt is refused')
    .argument('<url>', 'the store: postgres:// or postgresql:// (schema ckpt unless ?schema=NAME)')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  ckpt store init postgres://ckpt@db.internal/jobs\n  ckpt store init "postgresql://ckpt@db.internal/jobs?schema=etl"',
    )
    .action(
      act(async (url: string, options: { json?: boolean }) => (await import('./commands/store-init.js')).storeInitCommand(url, options, processIo)),
    );

  program
    .command('help')
    .description('show help for a verb')
    .argument('[verb]')
    .action((verb?: string) => {
      const command = verb === undefined ? program : program.commands.find((c) => c.name() === verb);
      if (command === undefined) {
        return program.error(`unknown verb "${verb}"; the verbs are ${program.commands.map((c) => c.name()).join(', ')}`, {
          exitCode: ExitCode.Refused,
          code: 'ckpt.unknownVerb',
        });
      }
      command.outputHelp();
    });
  program.addHelpCommand(false);
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    if (argv.length === 0) {
      // No verb is a usage mistake (a script that lost its arguments must not pass): the help
      // goes to stderr, and the exit code says the command was refused.
      program.outputHelp({ error: true });
      return ExitCode.Refused;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; every other commander error is a usage mistake.
      return error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? ExitCode.Ok : ExitCode.Refused;
    }
    reportError(processIo, error);
    return exitCodeOf(error);
  }
}
