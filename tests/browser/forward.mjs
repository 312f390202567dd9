// A page in Chromium talks to redis-server through examples/forward:
// the page sends RESP as binary messages over a WebSocket and shows the
// replies. A page from an origin the forward does not allow is refused.
//
// Usage: node forward.mjs WS_URL GOOD_PAGE_PORT BAD_PAGE_PORT
// (WS_URL is the forward's route to Redis, e.g. ws://127.0.0.1:8081/redis;
// the pages are served here, on 127.0.0.1 at the two ports).
import http from 'node:http';
import { drive, ok, open } from './lib.mjs';

const [wsUrl, goodPort, badPort] = process.argv.slice(2);

const page = `<!doctype html>
<meta charset="utf-8">
<title>redis over a WebSocket</title>
<pre id="replies"></pre>
<script>
  const replies = document.getElementById('replies');
  const ws = new WebSocket(${JSON.stringify(wsUrl)}, ['binary']);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    document.body.dataset.protocol = ws.protocol;
    ws.send(new TextEncoder().encode('PING\\r\\n'));
  };
  ws.onmessage = (event) => {
    replies.textContent += new TextDecoder().decode(event.data);
  };
  ws.onclose = (event) => { document.body.dataset.closed = String(event.code); };
</script>`;

function serve(port) {
  const server = http.createServer((_, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(page);
  });
  return new Promise((resolve) => server.listen(Number(port), '127.0.0.1', () => resolve(server)));
}

drive(async (context) => {
  const servers = [await serve(goodPort), await serve(badPort)];
  try {
    const good = await open(context, `http://127.0.0.1:${goodPort}/`, '/');
    await good.locator('#replies', { hasText: '+PONG' }).waitFor();
    const protocol = await good.evaluate(() => document.body.dataset.protocol);
    if (protocol !== 'binary') throw new Error(`protocol ${protocol}`);
    ok('the page got +PONG from redis-server through the forward');

    const bad = await open(context, `http://127.0.0.1:${badPort}/`, '/');
    await bad.locator('body[data-closed="1006"]').waitFor({ state: 'attached' });
    const replies = await bad.locator('#replies').textContent();
    if (replies !== '') throw new Error(`the refused page got ${replies}`);
    ok('a page from an origin not allowed is refused');
  } finally {
    for (const server of servers) server.close();
  }
});
