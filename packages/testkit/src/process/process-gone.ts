import { readFileSync } from 'node:fs';

/**
 * Whether process `pid` runs no code any more: it does not exist, or it is a zombie awaiting its
 * reaper (Linux /proc). For tests that check a killed or stopped process really ended.
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return ['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2)[0] ?? '');
  } catch {
    return true;
  }
}
