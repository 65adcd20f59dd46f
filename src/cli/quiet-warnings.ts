// Imported first by the launchers in bin/. The AWS SDK warns on every start that its future
// releases need Node 22: not news for the user of a mount command, so that one warning is
// dropped and every other warning still printed.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!w.message.startsWith('NodeVersionSupportWarning')) process.stderr.write(`${w.name}: ${w.message}\n`);
});

export {};
