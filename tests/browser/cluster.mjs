// Drives two chat servers sharing one Redis (run by tests/suite/browser/cluster.rs):
// alice's page on node A, bob's on node B.
//
//   node tests/browser/cluster.mjs http://127.0.0.1:PORT_A/ http://127.0.0.1:PORT_B/
//
// Prints "ok: <step>" for each step passed; exits 1 with "FAIL: ..." on the
// first failure. Environment: CHROMIUM (default /usr/bin/chromium).
import { connected, drive, message, notice, ok, online, open, say } from './lib.mjs';

const [nodeA, nodeB] = process.argv.slice(2);
if (!nodeA || !nodeB) {
  console.error('usage: node cluster.mjs NODE_A_URL NODE_B_URL');
  process.exit(1);
}

async function run(context) {
  const alice = await open(context, nodeA, '/?nick=alice');
  await connected(alice);
  await notice(alice, 'You joined as alice');
  ok('alice joined on node A');

  const bob = await open(context, nodeB, '/?nick=bob');
  await connected(bob);
  await notice(bob, 'You joined as bob');
  await notice(alice, 'bob joined');
  await online(alice, 'bob').waitFor();
  await online(bob, 'alice').waitFor();
  for (const page of [alice, bob]) {
    const count = await page.locator('#user-count').textContent();
    if (count !== '2') throw new Error(`${count} online, not 2`);
  }
  ok('alice sees bob join from node B; both pages list both online');

  await say(bob, 'Hello from node B');
  await message(alice, 'bob', 'Hello from node B');
  await say(alice, 'Hi bob, this is node A');
  await message(bob, 'alice', 'Hi bob, this is node A');
  ok('a message typed on one node appears on the other');

  await bob.close();
  await notice(alice, 'bob left');
  await online(alice, 'bob').waitFor({ state: 'detached' });
  ok('alice sees bob leave node B; bob is no longer listed');
}

drive(run);
