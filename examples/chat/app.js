// The chat page: one WebSocket to /chat speaking the "chat" subprotocol,
// JSON messages (see protocol.rs), and reconnection with backoff.
//
// How the page learns why it was refused: when a server refuses a WebSocket
// handshake, browsers hide the HTTP response from scripts; the socket just
// closes with code 1006. So before each attempt the page asks
// GET /check?nick=NAME, which the server answers from the same rules as the
// handshake, with a reason. If the nickname is taken between the check and
// the handshake, the socket fails to open and the next attempt's check
// explains why. A refusal after the socket opened arrives as a close code
// 4000-4999 with the reason.
'use strict';

const MAX_TEXT_BYTES = 2048; // as server.rs
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30000;
const MAX_ITEMS = 500; // messages and notices kept on the page

const $ = (id) => document.getElementById(id);

let nick = null; // the nickname we chat as
let socket = null; // the open (or opening) WebSocket
let accepted = false; // whether the server accepted `nick` once already
let failures = 0; // attempts failed in a row, for the backoff
let attempt = 0; // bumped to cancel an attempt in progress
let retryTimer = null;
let countdownTimer = null;
const users = new Set();

function main() {
  $('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const wanted = $('nick-input').value.trim();
    if (wanted) start(wanted);
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    sendMessage();
  });
  // sendMessage marks a message over 2 KiB invalid, which blocks the form
  // until the text is edited.
  $('message-input').addEventListener('input', (event) => event.target.setCustomValidity(''));
  $('retry-now').addEventListener('click', () => connect());
  $('change-nick').addEventListener('click', () => {
    cancel();
    askNick('');
  });

  const fromUrl = new URLSearchParams(location.search).get('nick');
  if (fromUrl !== null) start(fromUrl);
  else askNick('');
}

// Starts chatting as `wanted`, keeping it in the URL for reloads.
function start(wanted) {
  cancel();
  hideBanner();
  nick = wanted;
  accepted = false;
  failures = 0;
  setNickInUrl(nick);
  $('join').hidden = true;
  $('my-nick').textContent = nick;
  connect();
}

// Closes the socket and cancels any attempt or retry.
function cancel() {
  attempt++;
  clearTimeout(retryTimer);
  clearInterval(countdownTimer);
  if (socket) {
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.close(1000);
    socket = null;
  }
  setComposer(false);
}

// ANCHOR: connect
// One attempt: check the nickname, then open the WebSocket.
async function connect() {
  cancel();
  const mine = attempt;
  setStatus('connecting', 'Connecting…');
  if (!$('banner').hidden) showBanner('Reconnecting…', '');
  let verdict;
  try {
    const response = await fetch('/check?nick=' + encodeURIComponent(nick), { cache: 'no-store' });
    verdict = await response.json();
  } catch {
    if (mine === attempt) retry('The server cannot be reached.');
    return;
  }
  if (mine !== attempt) return; // cancelled meanwhile
  if (verdict.ok) openSocket();
  else refused(verdict.reason);
}
// ANCHOR_END: connect

// ANCHOR: open_socket
function openSocket() {
  const url = new URL('/chat', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('nick', nick);
  const ws = new WebSocket(url, 'chat');
  socket = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    failures = 0;
    hideBanner();
    setStatus('connected', 'Connected');
    setComposer(true);
  };
  ws.onmessage = (event) => receive(JSON.parse(event.data));
  ws.onclose = (event) => {
    socket = null;
    setComposer(false);
    if (event.code >= 4000 && event.code < 5000) refused(event.reason);
    else if (opened) retry(sentence(event.reason) || 'The connection was lost.');
    else retry('The connection failed.');
  };
}
// ANCHOR_END: open_socket

// The server refused `nick`. If it never accepted it, that is final: ask
// for another nickname. If it did (we are reconnecting), our previous
// connection may still hold the name until the server notices it is gone,
// so keep trying.
function refused(reason) {
  if (accepted) {
    retry(sentence(reason));
    return;
  }
  cancel();
  setNickInUrl(null);
  askNick(sentence(reason) || 'The server refused this nickname.');
}

// ANCHOR: retry
// Tries again after a delay that doubles with each failure, up to 30 s.
function retry(why) {
  cancel();
  const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** failures) * (0.8 + 0.4 * Math.random());
  failures++;
  const until = Date.now() + delay;
  const show = () => {
    const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
    showBanner(`Disconnected — retrying in ${seconds} s…`, why);
  };
  setStatus('offline', 'Disconnected');
  show();
  countdownTimer = setInterval(show, 1000);
  retryTimer = setTimeout(connect, delay);
}
// ANCHOR_END: retry

function receive(message) {
  switch (message.type) {
    case 'users':
      users.clear();
      message.users.forEach((name) => users.add(name));
      renderUsers();
      break;
    case 'history':
      // Sent on every (re)connection: it replaces what the page shows.
      $('messages').replaceChildren();
      message.messages.forEach(addMessage);
      break;
    case 'message':
      addMessage(message);
      break;
    case 'join':
      users.add(message.nick);
      renderUsers();
      if (message.nick === nick) {
        addNotice(accepted ? `Reconnected as ${nick}` : `You joined as ${nick}`);
        accepted = true;
      } else {
        addNotice(`${message.nick} joined`);
      }
      break;
    case 'leave':
      users.delete(message.nick);
      renderUsers();
      addNotice(`${message.nick} left`);
      break;
  }
}

// ANCHOR: send
function sendMessage() {
  const input = $('message-input');
  const text = input.value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES) {
    input.setCustomValidity('Messages are limited to 2 KiB.');
    input.reportValidity();
    return;
  }
  socket.send(JSON.stringify({ type: 'message', text }));
  input.value = '';
}
// ANCHOR_END: send

// ---- Rendering ----

function addMessage(line) {
  const item = element('li', line.nick === nick ? 'message mine' : 'message');
  const avatar = element('span', 'avatar', Array.from(line.nick)[0].toUpperCase());
  avatar.style.backgroundColor = colorOf(line.nick);
  const time = element('time', 'time', new Date(line.time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  time.dateTime = new Date(line.time).toISOString();
  const meta = element('div', 'meta');
  meta.append(element('span', 'nick', line.nick), time);
  const body = element('div', 'body');
  body.append(meta, element('div', 'text', line.text));
  item.append(avatar, body);
  append(item);
}

function addNotice(text) {
  append(element('li', 'notice', text));
}

// Appends to the message list, following along if it was scrolled down.
function append(item) {
  const list = $('messages');
  const following = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  list.append(item);
  while (list.children.length > MAX_ITEMS) list.firstElementChild.remove();
  if (following) list.scrollTop = list.scrollHeight;
}

function renderUsers() {
  const sorted = [...users].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
  $('users').replaceChildren(
    ...sorted.map((name) => {
      const item = element('li', name === nick ? 'user self' : 'user');
      const dot = element('span', 'avatar small', Array.from(name)[0].toUpperCase());
      dot.style.backgroundColor = colorOf(name);
      item.append(dot, element('span', 'name', name));
      return item;
    }),
  );
  $('user-count').textContent = String(users.size);
}

function askNick(error) {
  hideBanner();
  setStatus('idle', 'Not connected');
  users.clear();
  renderUsers();
  $('join-error').textContent = error;
  $('join-error').hidden = !error;
  $('nick-input').value = nick ?? '';
  $('join').hidden = false;
  $('nick-input').focus();
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status-text').textContent = state === 'connected' ? `${text} as ${nick}` : text;
}

function showBanner(text, why) {
  $('banner-text').textContent = text;
  $('banner-why').textContent = why || '';
  $('banner').hidden = false;
}

function hideBanner() {
  $('banner').hidden = true;
}

function setComposer(enabled) {
  const input = $('message-input');
  input.disabled = !enabled;
  input.setCustomValidity('');
  if (enabled) input.focus();
}

function setNickInUrl(value) {
  const url = new URL(location.href);
  if (value === null) url.searchParams.delete('nick');
  else url.searchParams.set('nick', value);
  history.replaceState(null, '', url);
}

// A stable color per nickname.
function colorOf(name) {
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 48%)`;
}

// "the nickname is taken" → "The nickname is taken."
function sentence(text) {
  return text ? text[0].toUpperCase() + text.slice(1) + '.' : '';
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

main();
