// Node `ws` echo server: `node server.js --addr 127.0.0.1:9001`.
// With --fanout, the fan-out server of benches/fanout.sh instead: every
// message received from any client goes to every connected client, the
// sender included, with `wss.clients.forEach(c => c.send(m))`.
'use strict';
const { WebSocketServer } = require('ws');

let addr = '127.0.0.1:9001';
let fanout = false;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--addr') addr = args[++i];
  else if (args[i] === '--fanout') fanout = true;
  else { console.error(`unknown flag ${args[i]}; usage: --addr HOST:PORT [--fanout]`); process.exit(2); }
}
const at = addr.lastIndexOf(':');
const host = addr.slice(0, at);
const port = Number(addr.slice(at + 1));

const wss = new WebSocketServer({ host, port, maxPayload: 64 << 20, perMessageDeflate: false });
wss.on('connection', (ws) => {
  if (fanout) {
    ws.on('message', (data, isBinary) => wss.clients.forEach((c) => c.send(data, { binary: isBinary })));
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ws ${fanout ? 'fan-out' : 'echo'} server listening on ws://${addr}`));
