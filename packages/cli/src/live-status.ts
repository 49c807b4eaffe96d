import { formatDuration } from '@ckpt/core/internal';
import { colors } from './output.js';

const ERASE_LINE_UP = '\u001b[1A\u001b[2K';

/**
 * The lines of what is running now, kept at the bottom of a terminal and redrawn in place
 * (four times a second, and around every log line), so a long step shows that it is alive and
 * for how long. Log lines scroll above it. Only for terminals: piped output gets the log only.
 */
export class LiveStatus {
  private readonly running = new Map<string, number>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 250,
  ) {}

  /** Writes a log line above the status lines. */
  log(line: string): void {
    this.erase();
    this.out.write(`${line}\n`);
    this.draw();
  }

  started(unit: string): void {
    this.running.set(unit, this.now());
    this.timer ??= setInterval(() => {
      this.erase();
      this.draw();
    }, this.intervalMs).unref();
    this.erase();
    this.draw();
  }

  finished(unit: string): void {
    this.running.delete(unit);
    if (this.running.size === 0) this.stop();
  }

  /** Removes the status lines and stops redrawing. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.erase();
  }

  /** The status lines for the steps running at `now`. */
  lines(now = this.now()): string[] {
    return [...this.running].map(([unit, since]) => `${colors.cyan('⋯')} ${unit}  ${colors.dim(`running for ${formatDuration(now - since)}`)}`);
  }

  private erase(): void {
    if (this.drawn > 0) this.out.write(ERASE_LINE_UP.repeat(this.drawn));
    this.drawn = 0;
  }

  private draw(): void {
    const lines = this.lines();
    if (lines.length > 0) this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }
}
