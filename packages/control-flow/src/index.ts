/**
 * @ckpt/control-flow: runs packages of tasks and containers with SSIS checkpoint semantics — the
 * task is the smallest restart unit, transactions and loops are atomic — plus what SSIS lacks:
 * loops that resume at their first unfinished iteration and transactions whose commit is recorded.
 */
export { ControlFlowRunner, structureOf } from './runner.js';
export type { ControlFlowRunnerOptions, PackageRun, RunNotice } from './runner.js';
export { PackageLimits, compilePackage, formatPath } from './compile.js';
export { coerceText } from './variables.js';
export { MASK, MIN_MASKED_LENGTH } from './secret-mask.js';
export type { CompileOptions, PackageDefinition, StepDefinition } from './compile.js';
export { loadPackageFile, parsePackageText } from './package-file.js';
export { after, definePackage, exec, forEach, forLoop, sequence, task } from './builder.js';
export type { StepOptions } from './builder.js';
export { PackageDefinitionError, PackageFailedError, formatProblem } from './errors.js';
export type { PackageProblem } from './errors.js';
export { closestName } from './closest-name.js';
export { ExpressionError, checkTemplate, evaluate, evaluateCondition, expandTemplate, parseAssignments, parseExpression } from './expression.js';
export type { Assignment, Expr, ExprScope, ExprValue } from './expression.js';
export { MAX_RETRY_WAIT_MS, StepResult, TransactionOption, VariableType, isContainer } from './model.js';
export type {
  CheckpointSettings,
  Constraint,
  ContainerStep,
  ExecStep,
  ForEachSource,
  ForEachStep,
  ForStep,
  FunctionStep,
  Package,
  PluginStep,
  RetryPolicy,
  RollbackAction,
  SequenceStep,
  Step,
  StepCommon,
  TaskStep,
  VariableDecl,
} from './model.js';
export type { FunctionTask, TaskContext, TaskPlugin } from './task-context.js';
export { restartPointOf } from './restart-point.js';
export { CONTROL_FLOW_NAMESPACE, controlFlowReducer, rerunSelection } from './rerun.js';
export type { ControlFlowState, RerunRecord } from './rerun.js';
export type { RestartPoint } from './restart-point.js';
