#!/usr/bin/env node
// The installed entry point: runs the bundled CLI (one file, see scripts/bundle.mjs).
import '../dist/ckpt.mjs';
