import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstDifference } from '@ckpt/testkit';
import { copyFile } from '../copy-file.js';
import { AuthenticationError } from '../errors.js';
import { loadNetmap } from './netmap.js';
import { NodeServer } from './node-server.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let dir: string;
let server: NodeServer | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-tls-'));
});
afterEach(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasOpenssl())('TLS', () => {
  it('pushes over TLS when the node entry has a certificate, and refuses an untrusted one', async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=beta',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=other',
        '-keyout',
        join(dir, 'other-key.pem'),
        '-out',
        join(dir, 'other.pem'),
      ],
      { stdio: 'ignore' },
    );
    await mkdir(join(dir, 'root'));
    await writeFile(
      join(dir, 'server.yaml'),
      'nodes:\n  alpha: { address: 127.0.0.1:1, secret: a }\n  beta: { address: 127.0.0.1:0, secret: b, tls: { cert: cert.pem, key: key.pem } }\n',
    );
    server = new NodeServer({
      root: join(dir, 'root'),
      host: '127.0.0.1',
      port: 0,
      name: 'beta',
      netmap: loadNetmap(join(dir, 'server.yaml')),
      pruneEveryMs: 0,
    });
    const { port } = await server.listen();
    await writeFile(
      join(dir, 'client.yaml'),
      `nodes:\n  alpha: { address: 127.0.0.1:1, secret: a }\n  beta: { address: 127.0.0.1:${port}, secret: b, tls: { ca: cert.pem } }\n`,
    );
    await writeFile(
      join(dir, 'untrusting.yaml'),
      `nodes:\n  alpha: { address: 127.0.0.1:1, secret: a }\n  beta: { address: 127.0.0.1:${port}, secret: b, tls: { ca: other.pem } }\n`,
    );
    const data = randomBytes(300 * 1024);
    await writeFile(join(dir, 'a'), data);
    await copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/a', netmap: loadNetmap(join(dir, 'client.yaml')), node: 'alpha' });
    expect(firstDifference(await readFile(join(dir, 'root', 'a')), data)).toBeUndefined();
    await expect(
      copyFile({
        source: join(dir, 'a'),
        destination: 'ckpt://beta/b',
        netmap: loadNetmap(join(dir, 'untrusting.yaml')),
        node: 'alpha',
        retry: { shortRetries: 0 },
      }),
    ).rejects.toBeInstanceOf(AuthenticationError);
  });
});
