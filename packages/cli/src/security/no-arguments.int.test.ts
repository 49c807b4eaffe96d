import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

/** Issue 12, item 19: `ckpt` with no arguments exited 0, so a script that lost its arguments passed. */
const main = ckptBin();

describe('ckpt with no arguments', () => {
  it('prints the help on stderr and exits 2 (a usage mistake); `ckpt help` still exits 0', () => {
    const bare = spawnSync(process.execPath, [main], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
    expect(bare.status).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toMatch(/^Usage: ckpt /);
    expect(bare.stderr).toContain('inspect');
    const help = spawnSync(process.execPath, [main, 'help'], { encoding: 'utf8', timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ckpt /);
  });
});
