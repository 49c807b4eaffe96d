/**
 * The `ckpt` command, as a function of its arguments. Each verb's module is imported only when that verb runs, so
 * `ckpt --version` loads commander and nothing else.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, exitCodeOf } from './exit-codes.js';
import { processIo, reportError } from './output.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Builds the program; `run` resolves with the exit code a verb chose. */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('ckpt')
    .description('Restart jobs from their point of failure: inspect checkpoints, run packages, copy files with checkpoint restart.')
    .version(version, '-V, --version')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run "ckpt help" for the verbs, "ckpt help <verb>" for one verb)')
    .exitOverride();
  program.configureHelp({ sortOptions: false });
  const act = <A extends unknown[]>(load: (...args: A) => Promise<number>) => async (...args: A) => setExitCode(await load(...args));

  program
    .command('inspect')
    .description('show the folded state of a checkpoint: identity, attempts, completed units, restart point, variables, cursors')
    .argument('<checkpoint-file>', 'the checkpoint to read (it is not locked or changed)')
    .option('--json', 'print one JSON object instead of the human view')
    .addHelpText('after', '\nExamples:\n  ckpt inspect .ckpt/nightly-load.ckpt\n  ckpt inspect .ckpt/nightly-load.ckpt --json | jq .restartPoint')
    .action(act(async (file: string, options: { json?: boolean }) => (await import('./commands/inspect.js')).inspectCommand(file, options, processIo)));

  program
    .command('events')
    .description('print every event of a checkpoint log in order, one per line')
    .argument('<checkpoint-file>', 'the checkpoint to read (it is not locked or changed)')
    .option('--json', 'one JSON object per line')
    .addHelpText('after', '\nExamples:\n  ckpt events .ckpt/nightly-load.ckpt\n  ckpt events .ckpt/nightly-load.ckpt --json | grep unit-failed')
    .action(act(async (file: string, options: { json?: boolean }) => (await import('./commands/events.js')).eventsCommand(file, options, processIo)));

  program
    .command('prune')
    .description('delete expired checkpoint files and partial transfers under a directory; print what was removed')
    .argument('<dir>', 'the directory to search (recursively; symbolic links are not followed)')
    .option('--older-than <duration>', 'remove checkpoints last written longer ago than this (e.g. 7d), whatever their retention')
    .option('--dry-run', 'print what would be removed, remove nothing')
    .option('--json', 'one JSON object per line')
    .addHelpText('after', '\nExamples:\n  ckpt prune .ckpt\n  ckpt prune /srv/ckpt --older-than 7d --dry-run')
    .action(
      act(async (dir: string, options: { olderThan?: string; dryRun?: boolean; json?: boolean }) =>
        (await import('./commands/prune.js')).pruneCommand(dir, options, processIo),
      ),
    );

  program
    .command('help')
    .description('show help for a verb')
    .argument('[verb]')
    .action((verb?: string) => {
      const command = verb === undefined ? program : program.commands.find((c) => c.name() === verb);
      if (command === undefined) {
        return program.error(`unknown verb "${verb}"; the verbs are ${program.commands.map((c) => c.name()).join(', ')}`, { exitCode: ExitCode.Refused, code: 'ckpt.unknownVerb' });
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
      program.outputHelp();
      return ExitCode.Ok;
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
