import { Socket } from 'node:net';
import { FramedConnection, type ConnectionOptions, type ReadInto } from './framed-connection.js';

/**
 * A {@link FramedConnection} over a socket the node server accepted, reading straight into frame
 * memory when Node allows it.
 *
 * Why: on the `data` path Node allocates a fresh ArrayBuffer for every read of at most 64 KiB.
 * For the receiver of a push that is ~16 000–23 000 buffers per GiB, ~45 000 page faults and
 * ~40 full (mark-compact) collections, with their concurrent marking threads: measured at about
 * 0.8 s of CPU per GiB on the server, competing for the same two cores as the sender, and a push
 * that took 1.7× the time of the same push reading straight into its frames.
 *
 * Node offers that (`onread`) only to sockets created by `net.connect` or `new net.Socket`, not
 * to accepted ones. So the server pauses on connect (nothing is read yet), and this moves the
 * accepted TCP handle into a new Socket created with `onread` — what Node itself does when it
 * wraps a handle. That relies on Node's private `_handle`; it is feature-checked, and any other
 * shape (TLS sockets, a socket that already read, a future Node without these internals) keeps
 * the accepted socket on the `data` path, which is correct, only slower.
 */
export function frameAcceptedSocket(accepted: Socket, idleTimeoutMs: number, options: ConnectionOptions = {}): FramedConnection {
  const handle = adoptableHandle(accepted);
  if (handle !== undefined) {
    try {
      return new FramedConnection(
        (onread: ReadInto) => {
          const socket = new Socket({ handle, readable: true, writable: true, onread } as ConstructorParameters<typeof Socket>[0]);
          // The new Socket owns the handle now; the old wrapper must not close it. Destroying the
          // wrapper releases it (and Node's count of server connections; the node server keeps its own).
          (accepted as unknown as { _handle: unknown })._handle = null;
          accepted.destroy();
          return socket;
        },
        idleTimeoutMs,
        options,
      );
    } catch {
      // Not adoptable after all: the accepted socket is untouched, use the data path.
    }
  }
  const connection = new FramedConnection(accepted, idleTimeoutMs, options);
  // The server pauses sockets on connect so that a handle can be adopted before anything is read.
  accepted.resume();
  return connection;
}

/** The private TCP handle of a plain, paused, unread accepted socket; undefined otherwise. */
function adoptableHandle(socket: Socket): object | undefined {
  if ((socket as { encrypted?: boolean }).encrypted === true) return undefined;
  if (!socket.isPaused() || socket.readableLength > 0 || socket.destroyed) return undefined;
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  if (typeof handle !== 'object' || handle === null) return undefined;
  const methods = handle as Record<string, unknown>;
  const looksLikeTcp = ['readStart', 'readStop', 'useUserBuffer', 'writev', 'getpeername'].every((name) => typeof methods[name] === 'function');
  return looksLikeTcp ? handle : undefined;
}
