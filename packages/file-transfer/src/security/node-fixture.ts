import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FramedConnection } from '../net/framed-connection.js';
import { authenticateClient } from '../net/handshake.js';
import { loadNetmap, type Netmap } from '../net/netmap.js';
import { NodeServer, type NodeServerOptions, type ServerEvent } from '../net/node-server.js';

/** A node `beta` on 127.0.0.1 serving a temporary root for client `alpha`, for the security tests. */
export interface NodeFixture {
  readonly dir: string;
  readonly root: string;
  readonly server: NodeServer;
  /** The client's netmap (alpha, and beta at the server's port). */
  readonly netmap: Netmap;
  readonly port: number;
  readonly events: ServerEvent[];
  /** An authenticated raw connection from alpha, for sending hand-made requests. */
  readonly connectAlpha: () => Promise<FramedConnection>;
  readonly stop: () => Promise<void>;
}

const netmapText = (port: number) =>
  `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "secret-a" }\n  beta: { address: 127.0.0.1:${port}, secret: "secret-b" }\n`;

/** Starts the node; `stop` closes it and removes the folder. */
export async function startNode(options: Partial<NodeServerOptions> = {}): Promise<NodeFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-node-sec-'));
  const root = join(dir, 'root');
  await mkdir(root);
  await writeFile(join(dir, 'server.yaml'), netmapText(0));
  const events: ServerEvent[] = [];
  const server = new NodeServer({
    root,
    host: '127.0.0.1',
    port: 0,
    name: 'beta',
    netmap: loadNetmap(join(dir, 'server.yaml')),
    pruneEveryMs: 0,
    onEvent: (event) => events.push(event),
    ...options,
  });
  const { port } = await server.listen();
  await writeFile(join(dir, 'client.yaml'), netmapText(port));
  const netmap = loadNetmap(join(dir, 'client.yaml'));
  const connectAlpha = async () => {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const connection = new FramedConnection(socket, 10_000);
    await authenticateClient(connection, netmap.nodes.get('alpha')!, netmap.nodes.get('beta')!);
    return connection;
  };
  return {
    dir,
    root,
    server,
    netmap,
    port,
    events,
    connectAlpha,
    stop: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `condition` every 20 ms for at most `timeoutMs`; true once it held. */
export async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}
