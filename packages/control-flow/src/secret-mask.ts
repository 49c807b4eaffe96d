import type { CkptEvent } from '@ckpt/core';

/** What a masked sensitive value is replaced with, as CI systems do. */
export const MASK = '***';

/**
 * Values shorter than this are not masked: a sensitive `int` of `1` or a one-letter password
 * would turn every "exited with code 1" into "exited with code ***" and make the output
 * unreadable (CI systems draw the same line). Short secrets are not secret anyway.
 */
export const MIN_MASKED_LENGTH = 4;

/**
 * Fields that name structure, not data: step and unit ids, scope ids, the kind of a scope, a
 * variable's name. They come from the package file (never from a runtime value), and rewriting
 * them would corrupt what the checkpoint means, so they are never masked.
 */
const STRUCTURAL = new Set([
  'type',
  'unit',
  'scope',
  'parent',
  'kind',
  'name',
  'valueType',
  'sensitive',
  'redacted',
  'sealed',
  'attempt',
  'outcome',
  'at',
  // Run-view notices.
  'step',
  'container',
  'failedUnit',
  'stream',
  'result',
  'recorded',
  'completed',
  'failed',
  'inFlight',
  'openScopes',
  'durationMs',
  'forced',
]);

/** Event fields that carry data (an error text, a result, a cursor...) and are masked. */
const EVENT_DATA = new Set(['error', 'reason', 'result', 'cursor', 'value', 'config']);

function isCompletionMarker(value: unknown): boolean {
  return value !== null && typeof value === 'object' && Object.keys(value).length === 1 && (value as { result?: unknown }).result === 'completion';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The set of sensitive values known to a run, and the one place that replaces them with
 * {@link MASK} in what is recorded and shown: every event handed to the engine, every notice of
 * the run view and the error a run ends with pass through it.
 */
export class SecretMask {
  private readonly secrets = new Set<string>();
  private pattern: RegExp | undefined;

  /** Registers a sensitive value (every value a sensitive variable ever holds). */
  add(value: unknown): void {
    if (value === undefined || value === null || typeof value === 'object' || typeof value === 'function') return;
    const text = String(value);
    // The forms a value takes in messages: as is, line by line (stderr tails are joined with
    // " | "), and JSON-escaped (a command name is quoted with JSON.stringify).
    const plain = [text, ...text.split(/\r?\n/)];
    const forms = [...plain, ...plain.map((form) => JSON.stringify(form).slice(1, -1))];
    for (const form of forms) {
      if (form.trim().length < MIN_MASKED_LENGTH || this.secrets.has(form)) continue;
      this.secrets.add(form);
      this.pattern = undefined;
    }
  }

  /** Whether any value is registered. */
  get empty(): boolean {
    return this.secrets.size === 0;
  }

  /** `text` with every registered value replaced by {@link MASK}. */
  text(text: string): string {
    if (this.secrets.size === 0) return text;
    // Longest first, so a value that contains another is masked whole.
    this.pattern ??= new RegExp(
      [...this.secrets]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join('|'),
      'g',
    );
    return text.replace(this.pattern, MASK);
  }

  /** Every string inside `value` masked (arrays and plain objects copied; bytes kept). */
  value<T>(value: T): T {
    if (this.secrets.size === 0) return value;
    return this.deep(value, 0) as T;
  }

  private deep(value: unknown, depth: number): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array || depth > 64) return value;
    if (Array.isArray(value)) return value.map((v) => this.deep(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = this.deep(v, depth + 1);
    return out;
  }

  /**
   * An event as it may be recorded: its data fields masked, its structure (ids, names, kinds)
   * untouched. A sensitive variable's own value is left for the engine to seal or redact.
   */
  event(event: CkptEvent): CkptEvent {
    if (this.secrets.size === 0) return event;
    const namespaced = event.type.includes('/');
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(event)) {
      const keep =
        key === 'type' ||
        (namespaced ? false : !EVENT_DATA.has(key)) ||
        (key === 'value' && event.type === 'variable-set' && event.sensitive === true) ||
        // The runner's own marker of a step forced to `completion`: structure, read back on restart.
        (key === 'result' && event.type === 'unit-completed' && isCompletionMarker(v));
      out[key] = keep ? v : this.deep(v, 0);
    }
    return out as unknown as CkptEvent;
  }

  /** A run-view notice with everything but its structural fields masked. */
  notice<T extends object>(notice: T): T {
    if (this.secrets.size === 0) return notice;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(notice)) out[key] = STRUCTURAL.has(key) ? v : this.deep(v, 0);
    return out as T;
  }

  /** The error a run ends with, its message (and stack) masked in place. */
  error(error: unknown): unknown {
    if (this.secrets.size === 0 || !(error instanceof Error)) return error;
    const message = this.text(error.message);
    if (message !== error.message) {
      error.message = message;
      if (error.stack !== undefined) error.stack = this.text(error.stack);
    }
    return error;
  }
}
