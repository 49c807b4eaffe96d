#!/usr/bin/env node
// The installed entry point: runs the built CLI (no TypeScript at start-up).
import '../dist/main.js';
