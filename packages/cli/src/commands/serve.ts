import { stat } from 'node:fs/promises';
import { InvalidInputError, parseDuration } from '@ckpt/core/internal';
import { loadNetmap, NodeServer, parseAddress, type ServerEvent } from '@ckpt/file-transfer';
import type { ServeVerbOptions } from '../cli.js';
import { onInterrupt } from '../interrupt.js';
import { writeJsonLine, type CliIo } from '../output.js';

function describe(event: ServerEvent): string | undefined {
  switch (event.type) {
    case 'serve/authenticated':
      return undefined;
    case 'serve/connection':
      return undefined;
    case 'serve/refused':
      return `refused ${event.remote}: ${event.reason}`;
    case 'serve/transfer':
      return `${event.op} ${event.path} from ${event.node}: ${event.outcome}${event.error ? ` (${event.error})` : ''}`;
    case 'serve/pruned':
      return `pruned ${event.removed} expired partial transfer(s)`;
  }
}

/**
 * `ckpt serve`: runs a node until SIGINT/SIGTERM, then stops cleanly (transfers stop after their
 * last checkpoint and stay resumable) and exits 0: a stop was asked for, and a service manager
 * (systemd) counts any other status as a failure.
 */
export async function serveCommand(options: ServeVerbOptions, io: CliIo): Promise<number> {
  const info = await stat(options.root).catch(() => undefined);
  if (!info?.isDirectory())
    throw new InvalidInputError(`--root ${options.root} is not a directory`, { hint: 'create it first, or name an existing folder' });
  const { host, port } = parseAddress(options.listen, '--listen');
  const netmap = loadNetmap(options.netmap);
  const retentionMs = options.retention !== undefined ? parseDuration(options.retention, '--retention') : undefined;
  const writeTimeoutMs = options.writeTimeout !== undefined ? parseDuration(options.writeTimeout, '--write-timeout') : undefined;
  const server = new NodeServer({
    root: options.root,
    host,
    port,
    name: options.name,
    netmap,
    ...(retentionMs !== undefined && { retentionMs }),
    ...(writeTimeoutMs !== undefined && { writeTimeoutMs }),
    onEvent: (event) => {
      if (options.json) return writeJsonLine(io, event);
      const line = describe(event);
      if (line) io.stderr.write(`${line}\n`);
    },
  });
  const bound = await server.listen();
  if (options.json) writeJsonLine(io, { type: 'serve/listening', host: bound.host, port: bound.port, node: options.name, root: options.root });
  else io.stdout.write(`node ${options.name} listening on ${bound.host}:${bound.port}, root ${options.root}\n`);
  let stopListening = () => undefined as void;
  const signal = await new Promise<string>((resolve) => {
    stopListening = onInterrupt(io, resolve);
  });
  try {
    await server.close();
  } finally {
    stopListening();
  }
  if (options.json) writeJsonLine(io, { type: 'serve/stopped', signal });
  else io.stdout.write(`node ${options.name} stopped (${signal}); unfinished transfers resume on the next copy\n`);
  return 0;
}
