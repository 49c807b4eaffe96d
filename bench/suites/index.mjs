/**
 * The suites, in the order. A new suite is one file exporting `id`, `number`, `title`
 * and `run(ctx)` (returning { params, figures, goals, charts?, availability?, extra?,
 * diagnose? }), added to this list.
 */
import * as durableAppend from './durable-append.mjs';
import * as groupCommit from './group-commit.mjs';
import * as bufferedAppend from './buffered-append.mjs';
import * as resume from './resume.mjs';
import * as controlFlow from './control-flow.mjs';
import * as copy from './copy.mjs';
import * as resumeTransfer from './resume-transfer.mjs';
import * as cliStartup from './cli-startup.mjs';
import * as sharedStore from './shared-store.mjs';

export const SUITES = [durableAppend, groupCommit, bufferedAppend, resume, controlFlow, copy, resumeTransfer, cliStartup, sharedStore];
