// Drives the chat example's page in headless Chromium (run by tests/browser.rs).
//
//   node tests/browser/chat.mjs http://127.0.0.1:PORT/
//
// Prints "ok: <step>" for each step passed; exits 1 with "FAIL: ..." on the
// first failure. Environment: CHROMIUM (default /usr/bin/chromium), and
// CHAT_SCREENSHOT=path.png to save a screenshot of a conversation.
import { createServer, connect } from 'node:net';
import { connected, drive, message, notice, ok, online, open as openAt, say } from './lib.mjs';

const base = process.argv[2];
const screenshot = process.env.CHAT_SCREENSHOT;
if (!base) {
  console.error('usage: node chat.mjs BASE_URL');
  process.exit(1);
}
const open = (context, query) => openAt(context, base, query);

async function refusedWith(page, reason) {
  await page.locator('#join').waitFor();
  const error = page.locator('#join-error', { hasText: reason });
  await error.waitFor();
  return error.textContent();
}

async function run(context) {
  const ann = await open(context, '/?nick=ann');
  await connected(ann);
  await notice(ann, 'You joined as ann');
  ok('ann joined');

  const bob = await open(context, '/?nick=bob');
  await connected(bob);
  await notice(ann, 'bob joined');
  await online(ann, 'bob').waitFor();
  await online(bob, 'ann').waitFor();
  ok('ann sees bob join; both are listed online');

  await say(bob, 'Hello from bob');
  await message(ann, 'bob', 'Hello from bob');
  await say(ann, 'Hi bob! Welcome to the wsgate chat.');
  await message(bob, 'ann', 'Hi bob! Welcome to the wsgate chat.');
  ok('a message typed in one page (Enter) appears in the other');

  if (screenshot) {
    await say(bob, 'Everything here is plain HTML, CSS and JavaScript over one WebSocket.');
    await message(ann, 'bob', 'plain HTML');
    await ann.screenshot({ path: screenshot });
    ok(`screenshot saved to ${screenshot}`);
  }

  // Too long to send: a notice, and nothing sent. The 2 KiB are bytes of
  // UTF-8, so 1500 'é' are too long; so is a paste of 2049 ASCII letters.
  // Editing the text clears the notice, and the next message goes out.
  const input = ann.locator('#message-input');
  const notice2KiB = () => input.evaluate((el) => el.validationMessage);
  for (const tooLong of ['x'.repeat(2049), 'é'.repeat(1500)]) {
    await input.fill(tooLong);
    await input.press('Enter');
    const shown = await notice2KiB();
    if (shown !== 'Messages are limited to 2 KiB.') {
      throw new Error(`${tooLong.length} characters: notice "${shown}"`);
    }
    if ((await input.inputValue()) !== tooLong) throw new Error('the long message left the text field');
  }
  await input.fill('');
  await input.pressSequentially('Short enough');
  await input.press('Enter');
  if ((await input.inputValue()) !== '') throw new Error('after an edit, the form still does not submit');
  await message(bob, 'ann', 'Short enough');
  const left = await notice2KiB();
  if (left) throw new Error(`the notice stayed: "${left}"`);
  if (await bob.locator('#messages .message', { hasText: /xxx|ééé/ }).count()) {
    throw new Error('a message over 2 KiB was sent');
  }
  await connected(ann);
  ok('a message over 2 KiB is held back with a notice; after an edit the next one is sent');

  const dup = await open(context, '/?nick=ANN');
  const taken = await refusedWith(dup, 'already taken');
  ok(`a duplicate nickname is refused: "${taken}"`);

  await dup.goto(new URL('/?nick=no%20spaces', base).href);
  const invalid = await refusedWith(dup, 'may only contain');
  ok(`an invalid nickname is refused: "${invalid}"`);

  await dup.goto(new URL('/?nick=', base).href);
  const missing = await refusedWith(dup, 'nickname is required');
  ok(`a missing nickname is refused: "${missing}"`);

  // The join form: a nickname typed in and Enter. The newcomer is shown the history.
  await dup.locator('#nick-input').fill('carol');
  await dup.locator('#nick-input').press('Enter');
  await connected(dup);
  await message(dup, 'bob', 'Hello from bob');
  await message(dup, 'ann', 'Hi bob!');
  await notice(ann, 'carol joined');
  ok('a nickname entered in the form joins, and the history is replayed');

  // A WebSocket without the chat subprotocol is refused (the browser only sees 1006).
  const withoutProtocol = await ann.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve('opened');
        ws.onclose = (event) => resolve(`closed ${event.code}`);
      }),
    new URL('/chat?nick=dave', base.replace(/^http/, 'ws')).href,
  );
  if (withoutProtocol !== 'closed 1006') throw new Error(`no-protocol socket: ${withoutProtocol}`);
  ok('a WebSocket without the chat protocol is refused');

  await bob.close();
  await notice(ann, 'bob left');
  await online(ann, 'bob').waitFor({ state: 'detached' });
  ok('ann sees bob leave; bob is no longer listed');

  // The server goes away and comes back: dora's page reaches the server
  // through a proxy that this script stops and restarts.
  const proxy = await Proxy.start(new URL(base));
  const dora = await open(context, new URL('/?nick=dora', proxy.base).href);
  await connected(dora);
  await notice(ann, 'dora joined');
  await proxy.stop();
  await dora.locator('#banner', { hasText: 'Disconnected — retrying' }).waitFor();
  await dora.locator('#banner', { hasText: 'cannot be reached' }).waitFor({ timeout: 20_000 });
  await notice(ann, 'dora left');
  ok('server down: the page says "Disconnected — retrying…"');
  await proxy.restart();
  await notice(dora, 'Reconnected as dora', { timeout: 40_000 });
  await connected(dora);
  await notice(ann, 'dora joined');
  ok('server back: the page reconnects by itself');
  await proxy.stop();
}

// A TCP proxy on 127.0.0.1 in front of the chat server, which can be
// stopped (every connection cut, new ones refused) and restarted on the same
// port: to the page, the server went down and came back.
class Proxy {
  static async start(target) {
    const proxy = new Proxy(target);
    await proxy.listen(0);
    proxy.base = `http://127.0.0.1:${proxy.port}/`;
    return proxy;
  }

  constructor(target) {
    this.target = target;
    this.sockets = new Set();
    this.server = null;
  }

  listen(port) {
    this.server = createServer((client) => {
      const upstream = connect(Number(this.target.port), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  stop() {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  restart() {
    return this.listen(this.port);
  }
}

drive(run);
