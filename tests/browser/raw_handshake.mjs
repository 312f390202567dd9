// Chromium against a server that answers every handshake with a raw 101
// accepting permessage-deflate (run by tests/suite/browser/raw_handshake.rs).
//
//   node tests/browser/raw_handshake.mjs ws://127.0.0.1:PORT/
//
// Prints "ok: <step>" for each step passed; exits 1 with "FAIL: ..." on the
// first failure. Environment: CHROMIUM (default /usr/bin/chromium).
import { drive, ok } from './lib.mjs';

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node raw_handshake.mjs WS_URL');
  process.exit(1);
}

async function run(context) {
  const page = await context.newPage();
  const result = await page.evaluate(async (url) => {
    const ws = new WebSocket(url, ['raw.v1']);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('the handshake failed'));
    });
    const big = 'raw handshake, compressed both ways. '.repeat(2000);
    const echoes = [];
    ws.onmessage = (event) => echoes.push(event.data);
    for (const text of ['hello', big]) ws.send(text);
    await new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = () => {
        if (echoes.length === 2) return resolve();
        if (Date.now() - started > 5000) return reject(new Error(`${echoes.length} echoes`));
        setTimeout(poll, 10);
      };
      poll();
    });
    const closed = new Promise((resolve) => (ws.onclose = (event) => resolve(event.code)));
    ws.close(1000);
    return {
      extensions: ws.extensions,
      protocol: ws.protocol,
      echoed: echoes[0] === 'hello' && echoes[1] === big,
      code: await closed,
    };
  }, url);
  if (!result.extensions.startsWith('permessage-deflate')) {
    throw new Error(`extensions ${JSON.stringify(result.extensions)}`);
  }
  ok(`the raw 101 is accepted: extensions "${result.extensions}"`);
  if (result.protocol !== 'raw.v1') throw new Error(`protocol ${JSON.stringify(result.protocol)}`);
  ok('the subprotocol the raw 101 names is the one in use');
  if (!result.echoed) throw new Error('the echoes differ from what was sent');
  ok('a short and a 74 KB message come back intact');
  if (result.code !== 1000) throw new Error(`closed with ${result.code}`);
  ok('closed with 1000');
}

drive(run);
