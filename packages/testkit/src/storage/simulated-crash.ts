/**
 * Thrown by every call on a {@link SimulatedStorage} once it has crashed: the simulated machine
 * lost power, so the process that was using it must stop. Test harnesses recognise a crash by
 * asking the storage (`storage.crashed`), not by this error's type, because the journal wraps
 * storage errors in its own.
 */
export class SimulatedCrash extends Error {
  /** Node-style code, so code that branches on `error.code` sees something distinctive. */
  readonly code = 'ESIMCRASH';

  constructor(
    /** Index of the first operation that did not happen. */
    readonly operationIndex: number,
  ) {
    super(`simulated power loss: operation ${operationIndex} and every later one did not happen`);
    this.name = 'SimulatedCrash';
  }
}

/** Whether `error` is, or was caused by, a {@link SimulatedCrash}. */
export function isSimulatedCrash(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (e instanceof SimulatedCrash) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** A Node-style error with a `code`, as real storage throws. */
export function storageError(code: string, operation: string, path: string): Error & { code: string } {
  const error = new Error(`${code}: ${operation} '${path}' (simulated)`) as Error & { code: string; syscall: string; path: string };
  error.code = code;
  error.syscall = operation;
  error.path = path;
  return error;
}
