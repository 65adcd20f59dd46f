#!/usr/bin/env node
// The body of mount.qsfs (a shell wrapper): see src/cli/mount-helper.ts.
await import('../dist/cli/quiet-warnings.js');
const { mountHelperArgs } = await import('../dist/cli/mount-helper.js');
const { main } = await import('../dist/cli/main.js');
const qsfs = new URL('./qsfs', import.meta.url).pathname;
const code = await main(mountHelperArgs(process.argv.slice(2)), qsfs);
if (code !== 'running') process.exit(code);
