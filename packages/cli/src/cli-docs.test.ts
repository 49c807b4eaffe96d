import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { buildProgram } from './cli.js';

const docs = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');

it('docs/cli.md documents every verb and every option of it, in that verb’s section', () => {
  const program = buildProgram(() => undefined);
  for (const command of program.commands.filter((c) => c.name() !== 'help')) {
    const start = docs.indexOf(`## ckpt ${command.name()}`);
    expect(start, `a "## ckpt ${command.name()}" section`).toBeGreaterThanOrEqual(0);
    const next = docs.indexOf('\n## ', start + 1);
    const section = docs.slice(start, next < 0 ? undefined : next);
    for (const option of command.options) {
      expect(section, `ckpt ${command.name()} ${option.long}`).toContain(`\`${option.long}`);
    }
  }
});
