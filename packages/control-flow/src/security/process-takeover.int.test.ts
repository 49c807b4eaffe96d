/**
 * Issue 12 item 5: what a restart does with a process group an earlier attempt recorded and did
 * not see end — stop it only when it is provably that group (same host, same boot, the leader's
 * start time), and say when it cannot check (another host).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { bootId, groupAlive, processStartTicks } from '../exec-process.js';
import { recordedGroupRuns, takeOverGroups, type RecordedGroup } from '../process-groups.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  started.length = 0;
});

/** A detached `sleep 30` with a child: a group of two, recorded as ckpt records a task. */
function group(): { record: RecordedGroup; child: ChildProcess } {
  const child = spawn('sh', ['-c', 'sleep 30 & wait'], { detached: true, stdio: 'ignore' });
  started.push(child);
  const pid = child.pid!;
  const startTicks = processStartTicks(pid);
  const boot = bootId();
  return {
    child,
    record: {
      unit: 'slow',
      attempt: 1,
      host: hostname(),
      pid,
      pgid: pid,
      ...(startTicks !== undefined && { startTicks }),
      ...(boot !== undefined && { bootId: boot }),
    },
  };
}

async function settle(groups: RecordedGroup[]) {
  const warnings: string[] = [];
  const records: unknown[] = [];
  await takeOverGroups(groups, { warn: (m) => warnings.push(m), record: (e) => records.push(e) });
  return { warnings, records };
}

describe('security: a takeover stops only the recorded group, and says when it cannot check', () => {
  it('a live group of this host is stopped, announced and recorded as terminated', async () => {
    const { record, child } = group();
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const { warnings, records } = await settle([record]);
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`process group ${record.pgid} of step slow \\(attempt 1\\) is still running .*stopping it`)),
    ]);
    expect(records).toEqual([{ type: 'process/taken-over', unit: 'slow', pgid: record.pgid, attempt: 1, host: hostname(), outcome: 'terminated' }]);
    expect(groupAlive(record.pgid)).toBe(false);
    await exited;
  });

  it('a reused pid (another start time) or another boot is not the recorded group: left alone, recorded as gone', async () => {
    if (processStartTicks(process.pid) === undefined) throw new Error('this test needs /proc (Linux)');
    const { record } = group();
    const reused = { ...record, startTicks: record.startTicks! - 1 };
    const rebooted = { ...record, bootId: 'another-boot' };
    expect([recordedGroupRuns(reused), recordedGroupRuns(rebooted), recordedGroupRuns(record)]).toEqual([false, false, true]);
    const { warnings, records } = await settle([reused, rebooted]);
    expect(warnings).toEqual([]);
    expect(records).toMatchObject([{ outcome: 'gone' }, { outcome: 'gone' }]);
    expect(groupAlive(record.pgid), 'a stranger group was signalled').toBe(true);
  });

  it('another host: not checked, said so, recorded as not-checked; nothing here is signalled', async () => {
    const { record } = group();
    const elsewhere = { ...record, host: `not-${hostname()}` };
    const { warnings, records } = await settle([elsewhere]);
    expect(warnings).toEqual([expect.stringMatching(/host not-.*cannot check another host's processes: the step reruns/)]);
    expect(records).toMatchObject([{ type: 'process/taken-over', outcome: 'not-checked', host: elsewhere.host }]);
    expect(groupAlive(record.pgid)).toBe(true);
  });
});
