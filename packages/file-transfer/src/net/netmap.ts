import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { InvalidInputError } from '@ckpt/core';

/** One node of the netmap. The secret never leaves this process in clear. */
export interface NetmapNode {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly secret: Buffer;
  /** TLS material (PEM), when the node's entry has `tls`: a server uses cert+key, a client checks against ca. */
  readonly tls?: { readonly cert?: Buffer; readonly key?: Buffer; readonly ca?: Buffer };
}

/** The nodes a node knows, by name. */
export interface Netmap {
  readonly file: string;
  readonly nodes: ReadonlyMap<string, NetmapNode>;
}

/** Parses `HOST:PORT` (`[v6]:port` too). */
export function parseAddress(text: string, where: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new InvalidInputError(`${where}: "${text}" is not HOST:PORT`, { hint: 'write e.g. 127.0.0.1:7401' });
  }
  return { host: match[1] ?? match[2]!, port };
}

/** Reads a netmap file (see docs/file-transfer.md, "Netmap and security model"): `nodes: { name: { address, secret | secretFile } }`. */
export function loadNetmap(file: string): Netmap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`netmap ${file} cannot be read (${(error as { code?: string }).code ?? 'error'})`, {
      hint: 'pass the netmap with --netmap FILE',
    });
  }
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    throw new InvalidInputError(`netmap ${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const nodesField = (data as { nodes?: unknown } | null)?.nodes;
  if (typeof nodesField !== 'object' || nodesField === null || Array.isArray(nodesField)) {
    throw new InvalidInputError(`netmap ${file}: "nodes" must be a map of node names`, {
      hint: 'nodes:\n    beta: { address: 127.0.0.1:7402, secret: "..." }',
    });
  }
  const nodes = new Map<string, NetmapNode>();
  for (const [name, entry] of Object.entries(nodesField as Record<string, unknown>)) {
    const where = `netmap ${file}: nodes.${name}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new InvalidInputError(`${where}: a node name is letters, digits, ".", "_" and "-"`);
    if (typeof entry !== 'object' || entry === null) throw new InvalidInputError(`${where} must be { address, secret }`);
    const { address, secret, secretFile, tls } = entry as { address?: unknown; secret?: unknown; secretFile?: unknown; tls?: unknown };
    if (typeof address !== 'string') throw new InvalidInputError(`${where}.address is missing`, { hint: 'write address: HOST:PORT' });
    const { host, port } = parseAddress(address, `${where}.address`);
    let secretText: string;
    if (typeof secret === 'string' && secret.length > 0) {
      secretText = secret;
    } else if (typeof secretFile === 'string') {
      const path = resolve(dirname(file), secretFile);
      try {
        secretText = readFileSync(path, 'utf8').trim();
      } catch {
        throw new InvalidInputError(`${where}.secretFile ${path} cannot be read`);
      }
      if (secretText.length === 0) throw new InvalidInputError(`${where}.secretFile ${path} is empty`);
    } else {
      throw new InvalidInputError(`${where} needs a secret or a secretFile`);
    }
    nodes.set(name, { name, host, port, secret: Buffer.from(secretText, 'utf8'), ...(tls !== undefined && { tls: readTls(tls, file, where) }) });
  }
  return { file, nodes };
}

/** The node named `name`, or a refusal naming the netmap. */
export function nodeOf(netmap: Netmap, name: string, role: string): NetmapNode {
  const node = netmap.nodes.get(name);
  if (!node) {
    throw new InvalidInputError(`unknown node "${name}" (${role}): it is not in netmap ${netmap.file}`, {
      hint: `the nodes are ${[...netmap.nodes.keys()].join(', ') || '(none)'}; add it or fix the name`,
    });
  }
  return node;
}

/** A side of a copy: a local path or `ckpt://NODE/PATH`. */
export type Endpoint = { readonly kind: 'local'; readonly path: string } | { readonly kind: 'remote'; readonly node: string; readonly path: string };

/** Parses a copy argument. */
export function parseEndpoint(text: string, where: string): Endpoint {
  if (!text.startsWith('ckpt://')) {
    if (text.length === 0) throw new InvalidInputError(`${where} is empty`);
    return { kind: 'local', path: text };
  }
  const rest = text.slice('ckpt://'.length);
  const slash = rest.indexOf('/');
  const node = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  if (node.length === 0 || path.length === 0) {
    throw new InvalidInputError(`${where} "${text}" is not ckpt://NODE/PATH`, {
      hint: "e.g. ckpt://beta/in/data.csv (PATH is relative to that node's root)",
    });
  }
  return { kind: 'remote', node, path };
}

function readTls(value: unknown, file: string, where: string): NonNullable<NetmapNode['tls']> {
  if (typeof value !== 'object' || value === null) throw new InvalidInputError(`${where}.tls must be { cert, key, ca } (paths to PEM files)`);
  const out: { cert?: Buffer; key?: Buffer; ca?: Buffer } = {};
  for (const field of ['cert', 'key', 'ca'] as const) {
    const path = (value as Record<string, unknown>)[field];
    if (path === undefined) continue;
    if (typeof path !== 'string') throw new InvalidInputError(`${where}.tls.${field} must be a path`);
    const full = resolve(dirname(file), path);
    try {
      out[field] = readFileSync(full);
    } catch {
      throw new InvalidInputError(`${where}.tls.${field} ${full} cannot be read`);
    }
  }
  if ((out.cert === undefined) !== (out.key === undefined)) throw new InvalidInputError(`${where}.tls needs both cert and key (or neither)`);
  return out;
}
