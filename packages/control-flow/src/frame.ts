import type { CkptEvent, PlainValue } from '@ckpt/core';
import type { ExprValue } from './expression.js';
import type { ContainerStep, StepResult } from './model.js';

/** How a step ended, as its constraints see it. */
export type Outcome = StepResult;

/** An atomic scope the runner has open: a transaction, or a loop that reruns whole. */
export interface ScopeFrame {
  readonly id: string;
  readonly kind: 'transaction' | 'loop';
}

/** Where a step runs: its unit prefix, the scopes around it, loop locals and the onError handlers in reach. */
export interface Frame {
  /** Prefix of the unit ids of the steps run in this frame (`seq/`, `loop[2]/`). */
  readonly prefix: string;
  readonly scopes: readonly ScopeFrame[];
  readonly locals: ReadonlyMap<string, ExprValue>;
  /** Event-handler runs ignore the checkpoint: they fire again when the failure happens again. */
  readonly ephemeral: boolean;
  /** Containers with onError handlers, outermost first. */
  readonly handlers: readonly { readonly container: ContainerStep; readonly unit: string; readonly frame: Frame }[];
}

/** The frame of a package's top level (and, ephemeral, of a rollback at restart). */
export function topFrame(ephemeral = false): Frame {
  return { prefix: '', scopes: [], locals: new Map(), ephemeral, handlers: [] };
}

/** The frame of `container`'s children: its onError handlers come into reach (outside event-handler runs). */
export function childFrame(
  container: ContainerStep,
  unit: string,
  frame: Frame,
  prefix: string,
  scopes: readonly ScopeFrame[],
  locals: ReadonlyMap<string, ExprValue>,
): Frame {
  const base: Frame = { ...frame, prefix, scopes, locals };
  return container.onError.length > 0 && !frame.ephemeral ? { ...base, handlers: [...frame.handlers, { container, unit, frame: base }] } : base;
}

/** How a step ran. */
export interface StepRun {
  readonly outcome: Outcome;
  readonly error?: string;
  /** Events that must land with the step's completion (a loop scope's commit). */
  readonly closing?: readonly CkptEvent[];
  readonly result?: PlainValue;
}

/** Runs a container's children by their precedence constraints (the execution's, handed to loops). */
export type RunChildren = (container: ContainerStep, steps: ContainerStep['steps'], frame: Frame) => Promise<StepRun>;

/** `record[key]` when it is the record's own property: a step or variable named `constructor` or `toString` must not find Object.prototype's. */
export function own<T>(record: { readonly [key: string]: T } | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** The first line of an error's message (what a step's failure is recorded and shown with). */
export function message(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
