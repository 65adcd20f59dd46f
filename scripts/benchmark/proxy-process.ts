// The counting proxy in a process of its own, so that its work does not compete with the SDK
// ceiling's event loop. Started with fork(): argv TARGET_HOST TARGET_PORT; it sends
// { port } once listening and answers each 'take' message with the counts since the last one.
import { CountingProxy } from '../lib/s3-proxy.js';

const [host = '127.0.0.1', port = '0'] = process.argv.slice(2);
const proxy = new CountingProxy(host, Number(port));
const listening = await proxy.start();
process.send!({ port: listening });
process.on('message', (msg) => {
  if (msg === 'take') process.send!({ counts: proxy.take() });
  if (msg === 'stop') void proxy.stop().then(() => process.exit(0));
});
