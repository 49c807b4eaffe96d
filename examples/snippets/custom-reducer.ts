// The reducer of docs/writing-a-runner.md §7, type-checked and tested in snippets.test.ts.
import type { ExtensionReducer } from '@ckpt/core';

export const transferReducer: ExtensionReducer<{ restarts: number }> = {
  namespace: 'transfer',
  initial: () => ({ restarts: 0 }),
  evolve: (state, event) => (event.type === 'transfer/restarted' ? { restarts: state.restarts + 1 } : state),
};
