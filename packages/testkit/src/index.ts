/**
 * @ckpt/testkit: a simulated disk that can lose power after any operation, crash plans as
 * fast-check arbitraries, crash properties for the journal, a bounded exhaustive explorer,
 * a crash-restart contract suite for runners, and a kill -9 harness for real processes.
 */
export { SimulatedCrash, isSimulatedCrash } from './storage/simulated-crash.js';
export { OperationKind, SimulatedStorage } from './storage/simulated-storage.js';
export type {
  CrashPlan,
  FaultRule,
  OperationRecord,
  SimulatedStorageOptions,
  UnsyncedWrite,
  WriteFate,
} from './storage/simulated-storage.js';
export { MemoryLocker } from './storage/memory-locker.js';
