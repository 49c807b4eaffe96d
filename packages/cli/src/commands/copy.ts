import { formatBytes, formatDuration, InvalidInputError, isCkptError, parseDuration, parseSize } from '@ckpt/core/internal';
import { copyFile, copyTree, loadNetmap, type RetryPolicy, type TransferEvent, type TransferProgress } from '@ckpt/file-transfer';
import type { CopyVerbOptions } from '../cli.js';
import { onInterrupt } from '../interrupt.js';
import { colors, escapeControlChars, writeJsonLine, type CliIo } from '../output.js';

function parseCount(text: string | number, where: string): number {
  if (!/^\d+$/.test(String(text).trim()))
    throw new InvalidInputError(`${where}: "${text}" is not a whole number`, { hint: 'write e.g. 3 (0 disables)' });
  return Number(String(text).trim());
}

/** Retry settings as written by a user: on the command line, or in a package's copy step. */
export interface RetrySettings {
  readonly shortRetries?: string | number;
  readonly shortWait?: string | number;
  readonly longRetries?: string | number;
  readonly longWait?: string | number;
}

/** Parses the retry settings; only those given override the defaults. `name` says where each came from. */
export function retryOptions(settings: RetrySettings, name: (field: keyof RetrySettings) => string): Partial<RetryPolicy> {
  return {
    ...(settings.shortRetries !== undefined && { shortRetries: parseCount(settings.shortRetries, name('shortRetries')) }),
    ...(settings.shortWait !== undefined && { shortWaitMs: parseDuration(settings.shortWait, name('shortWait')) }),
    ...(settings.longRetries !== undefined && { longRetries: parseCount(settings.longRetries, name('longRetries')) }),
    ...(settings.longWait !== undefined && { longWaitMs: parseDuration(settings.longWait, name('longWait')) }),
  };
}

const flagOf = (field: string) => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A one-line progress bar redrawn with `\r`, on a terminal only, at most 10 times a second. */
class ProgressView {
  private lastDraw = 0;
  private drawn = false;
  private readonly started = Date.now();

  constructor(private readonly io: CliIo) {}

  update(progress: TransferProgress, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const { offset, size, sent } = progress;
    const fraction = size === 0 ? 1 : offset / size;
    const width = 24;
    const filled = Math.round(fraction * width);
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? sent / elapsed : 0;
    const eta = rate > 0 ? ((size - offset) / rate) * 1000 : undefined;
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    this.io.stderr.write(
      `\r${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(offset)}/${formatBytes(size)} ${formatBytes(rate)}/s ETA ${eta === undefined ? '-' : formatDuration(eta)}   `,
    );
    this.drawn = true;
  }

  /** Ends the bar's line before another line is printed. */
  clear(): void {
    if (this.drawn) this.io.stderr.write('\n');
    this.drawn = false;
  }
}

/**
 * Progress for logs (cron, CI): without a terminal and without --json, one plain line on stderr
 * every `everyMs` while data moves: bytes, percent, rate since the start, and the file in flight
 * of a tree. Nothing is printed while nothing is known yet.
 */
class ProgressLog {
  private last: (TransferProgress & { readonly path?: string }) | undefined;
  private lastPrinted: typeof this.last;
  private readonly started = Date.now();
  /** Sent by the files already finished (a tree). */
  private sentBefore = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly io: CliIo,
    everyMs: number,
  ) {
    this.timer = setInterval(() => this.print(), everyMs);
    this.timer.unref();
  }

  update(progress: TransferProgress & { readonly path?: string }): void {
    if (this.last?.path !== undefined && progress.path !== this.last.path) this.sentBefore += this.last.sent;
    this.last = progress;
  }

  private print(): void {
    const progress = this.last;
    if (!progress || progress === this.lastPrinted) return;
    this.lastPrinted = progress;
    const { offset, size, sent } = progress;
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? (this.sentBefore + sent) / elapsed : 0;
    const percent = size === 0 ? 100 : Math.floor((offset / size) * 100);
    const file = progress.path !== undefined ? `${escapeControlChars(progress.path)}: ` : '';
    this.io.stderr.write(`progress: ${file}${formatBytes(offset)} of ${formatBytes(size)} (${percent}%), ${formatBytes(rate)}/s\n`);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** `--rate-limit` (or $CKPT_COPY_RATE_LIMIT): bytes per second, written `50MiB/s` or `50MiB`; 0 is unlimited. */
export function parseRate(text: string, where: string): number {
  const size = text.trim().replace(/\/s$/i, '');
  try {
    return parseSize(size, where);
  } catch {
    throw new InvalidInputError(`${where}: "${text}" is not a rate`, {
      hint: 'write bytes per second, e.g. 50MiB/s, 512KiB/s or 50MiB (0: unlimited)',
    });
  }
}

/** The line the human views print for a transfer event (resume, start-over, retry), if any. */
export function describeTransferEvent(event: TransferEvent): string | undefined {
  switch (event.type) {
    case 'transfer/resumed': {
      if (event['verified'] === 'published') return 'already complete (published by an earlier run)';
      const offset = Number(event['offset']);
      const checkpoint = Number(event['checkpoint'] ?? offset);
      const past = offset > checkpoint ? `; ${formatBytes(offset - checkpoint)} past the last checkpoint matched and is kept` : '';
      return `resuming at ${formatBytes(offset)} of ${formatBytes(Number(event['size']))}, verified (${String(event['verified'])}${past})`;
    }
    case 'transfer/restarted':
      return `starting over: ${String(event['reason'])}`;
    case 'transfer/warning':
      return `warning: ${String(event['message'])}`;
    case 'transfer/retry':
      return `retry ${String(event['retry'])} in ${formatDuration(Number(event['waitMs']))}: ${String(event['error'])}`;
    case 'transfer/up-to-date':
      return 'up to date: the destination already holds the same content; nothing sent';
    case 'transfer/skipped':
      return `skipped ${String(event['path'])}: ${String(event['reason'])}`;
    default:
      return undefined;
  }
}

/** `ckpt copy SOURCE DESTINATION`: one file (or a tree), checkpoint restart, retries, published only when verified. */
export async function copyCommand(source: string, destination: string, options: CopyVerbOptions, io: CliIo): Promise<number> {
  const checkpointInterval = options.checkpointInterval !== undefined ? parseSize(options.checkpointInterval, '--checkpoint-interval') : undefined;
  const retry = retryOptions(options, flagOf);
  const netmap = options.netmap !== undefined ? loadNetmap(options.netmap) : undefined;
  // The flag wins over the environment variable (kept for packages' copy steps and old scripts).
  const rateText = options.rateLimit ?? process.env['CKPT_COPY_RATE_LIMIT'];
  const rateLimit = rateText ? parseRate(rateText, options.rateLimit !== undefined ? '--rate-limit' : 'CKPT_COPY_RATE_LIMIT') : undefined;
  const compress = options.compress === true || process.env['CKPT_COPY_COMPRESS'] === '1';
  const progressEvery = options.progressEvery !== undefined ? parseDuration(options.progressEvery, '--progress-every') : 5000;
  const view = !options.json && io.stderr.isTTY ? new ProgressView(io) : undefined;
  const log = !options.json && !io.stderr.isTTY && progressEvery > 0 ? new ProgressLog(io, progressEvery) : undefined;

  const controller = new AbortController();
  const stopListening = onInterrupt(io, () => controller.abort());
  const began = Date.now();
  let upToDate = false;
  const common = {
    source,
    destination,
    ...(checkpointInterval !== undefined && { checkpointInterval }),
    ...(options.verify !== undefined && { verify: options.verify }),
    ...(options.hash !== undefined && { hash: options.hash }),
    retry,
    ...(netmap && { netmap }),
    ...(options.node !== undefined && { node: options.node }),
    signal: controller.signal,
    ...(rateLimit !== undefined && rateLimit > 0 && { rateLimit }),
    ...(compress && { compress }),
    ...(options.preserve && { preserve: true }),
    onEvent: (event: TransferEvent) => {
      if (event.type === 'transfer/up-to-date') upToDate = true;
      if (options.json) return writeJsonLine(io, event);
      if (options.recursive && event.type === 'transfer/file-completed') {
        view?.clear();
        const how = event['upToDate'] ? 'up to date' : `copied, ${formatBytes(Number(event['sent']))} sent`;
        // A file's name may hold control characters: never written raw to a terminal or log.
        io.stderr.write(`${colors.green('✓')} ${escapeControlChars(String(event['path']))}: ${formatBytes(Number(event['bytes']))} (${how})\n`);
        return;
      }
      // The summary says "up to date" (the last line on stdout, or a tree's line per file).
      if (event.type === 'transfer/up-to-date') return;
      const line = describeTransferEvent(event);
      if (line) {
        view?.clear();
        const file = options.recursive && event.type !== 'transfer/skipped' && event['path'] !== undefined ? `${String(event['path'])}: ` : '';
        io.stderr.write(`${colors.yellow('•')} ${escapeControlChars(`${file}${line}`)}\n`);
      }
    },
    ...((view || log) && {
      onProgress: (progress: TransferProgress & { readonly path?: string }) => {
        view?.update(progress);
        log?.update(progress);
      },
    }),
  };
  try {
    if (options.recursive) {
      const tree = await copyTree(common);
      const durationMs = Date.now() - began;
      if (options.json) {
        writeJsonLine(io, {
          type: 'transfer-completed',
          files: tree.files,
          upToDate: tree.upToDate,
          skipped: tree.skipped,
          bytes: tree.bytes,
          sent: tree.sent,
          duration: durationMs,
          durationMs,
          source,
          destination,
        });
      } else {
        view?.clear();
        const skipped = tree.skipped > 0 ? `, ${tree.skipped} skipped` : '';
        io.stdout.write(
          `copied ${source} → ${destination}: ${tree.files} files (${tree.upToDate} up to date${skipped}), ${formatBytes(tree.bytes)} in ${formatDuration(durationMs)} (${formatBytes(tree.sent)} sent)\n`,
        );
      }
      return 0;
    }
    const result = await copyFile(common);
    const durationMs = Date.now() - began;
    if (options.json) {
      writeJsonLine(io, {
        type: 'transfer-completed',
        bytes: result.bytes,
        sent: result.sent,
        resumedFrom: result.resumedFrom,
        upToDate,
        digest: result.digest,
        duration: durationMs,
        durationMs,
        source,
        destination,
      });
    } else if (upToDate) {
      view?.clear();
      io.stdout.write(`up to date ${source} → ${destination}: ${formatBytes(result.bytes)}, nothing sent\n`);
    } else {
      view?.update({ offset: result.bytes, size: result.bytes, sent: result.sent, resumedFrom: result.resumedFrom }, true);
      view?.clear();
      const resumed = result.resumedFrom > 0 ? `, resumed at ${formatBytes(result.resumedFrom)}` : '';
      io.stdout.write(
        `copied ${source} → ${destination}: ${formatBytes(result.bytes)} in ${formatDuration(durationMs)} (${formatBytes(result.sent)} sent${resumed})\n`,
      );
    }
    return 0;
  } catch (error) {
    view?.clear();
    if (options.json) {
      writeJsonLine(io, {
        type: 'transfer-failed',
        code: isCkptError(error) ? error.code : 'error',
        error: error instanceof Error ? error.message.split('\n')[0] : String(error),
      });
    }
    throw error;
  } finally {
    log?.stop();
    stopListening();
  }
}
