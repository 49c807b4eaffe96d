import { InvalidInputError } from '../errors.js';

/**
 * Human units for sizes and durations, shared by the CLI, the package file and the netmap so
 * `8MiB` or `30d` mean the same everywhere.
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Parses `8MiB`, `4M` (binary), `1.5GB` (decimal), `512` (bytes). `where` names the field in errors. */
export function parseSize(text: string | number, where: string): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text;
    throw new InvalidInputError(`${where}: ${text} is not a whole number of bytes`);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new InvalidInputError(`${where}: "${text}" is not a size`, {
      hint: 'write a number with an optional unit: 0, 512, 64KiB, 8MiB, 1GiB, 1.5GB',
    });
  }
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new InvalidInputError(`${where}: "${text}" is too large`);
  return bytes;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** Parses `30d`, `1h30m`, `500ms`, `10s`, `2w`, or a bare number of seconds. */
export function parseDuration(text: string | number, where: string): number {
  if (typeof text === 'number') {
    if (Number.isFinite(text) && text >= 0) return text * 1000;
    throw new InvalidInputError(`${where}: ${text} is not a duration`);
  }
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  let total = 0;
  let rest = trimmed;
  const part = /^(\d+(?:\.\d+)?)(ms|min|s|m|h|d|w)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match) {
      throw new InvalidInputError(`${where}: "${text}" is not a duration`, {
        hint: 'write e.g. 500ms, 10s, 5m, 1h30m, 30d (a bare number means seconds)',
      });
    }
    total += Number(match[1]) * DURATION_UNITS[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  if (trimmed.length === 0) throw new InvalidInputError(`${where}: the duration is empty`);
  return Math.round(total);
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** `93_000` → `1m33s`; `850` → `850ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) return `${days}d${hours > 0 ? `${hours}h` : ''}`;
  if (hours > 0) return `${hours}h${minutes > 0 ? `${minutes}m` : ''}`;
  return `${minutes}m${seconds > 0 ? `${seconds}s` : ''}`;
}
