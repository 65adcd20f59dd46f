#!/usr/bin/env node
// npm's prepack step (package.json): removes the compiled JavaScript under dist/ before `prepare`
// compiles it again, so that a package never carries the output of a source file since removed
// (tsc never deletes outputs). dist/native (the FUSE addon and its build stamp) is kept: the
// build after it rebuilds the addon only when its sources changed.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
if (existsSync(dist)) {
  for (const entry of readdirSync(dist)) {
    if (entry !== 'native') rmSync(path.join(dist, entry), { recursive: true, force: true });
  }
}
