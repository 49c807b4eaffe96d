import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * The network of one simulated process: a loopback TCP relay between the process's store handle
 * and the server. {@link ProcessLink.cut} closes every connection of the process at once,
 * synchronously, as the kernel does when a process dies: bytes the client had not yet handed
 * over never reach the server, so a statement the dead process had not sent never commits. A
 * kill through the server (pg_terminate_backend, spawned through psql) would take tens of
 * milliseconds, in which a dead process's queued statements would still go out and commit.
 */
export class ProcessLink {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;

  private constructor(
    private readonly server: Server,
    /** The relay's port on 127.0.0.1: the process connects here instead of the server's port. */
    readonly port: number,
  ) {}

  /** A relay to `targetPort` on 127.0.0.1, listening on a free loopback port. */
  static async open(targetPort: number): Promise<ProcessLink> {
    let link: ProcessLink | undefined;
    const server = createServer((client) => {
      if (link === undefined || link.cutOff) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, '127.0.0.1');
      const pair = [client, upstream];
      for (const socket of pair) {
        link.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          link!.sockets.delete(socket);
          for (const other of pair) other.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the relay has no port');
    link = new ProcessLink(server, address.port);
    return link;
  }

  /** The process dies: every connection closes now, and no new one is accepted. Synchronous on purpose. */
  cut(): void {
    this.cutOff = true;
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
