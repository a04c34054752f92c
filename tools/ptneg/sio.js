// Socket.IO 4 (npm socket.io / socket.io-client, installed by tools/pt_negatives.sh into
// OUT/npm; PTNEG_NPM names that folder) for tools/pt_negatives.sh: the engine.io long-polling
// transport (a GET held open until the server has a packet or the 25 s ping comes due, a POST
// per client message) and its upgrade to WebSocket, behind nginx's TLS. Never run in CI.
//
//   node sio.js server PORT                 on 127.0.0.1:PORT: a chat room; relays "chat" to
//                                           everyone, pushes "notify" at random (mean 6 s)
//   node sio.js client URL polling|upgrade DUR GAP SEED
//        polling: transports ['polling'] only (no upgrade); upgrade: polling, then WebSocket.
//        Sends chat messages (20-300 bytes, now and then 2-20 KB) at exponential gaps of mean
//        GAP s (0: none), for DUR s.
const path = require('path');
const NPM = path.join(process.env.PTNEG_NPM || '.', 'node_modules');
let seed = 1;
function rnd() {
  seed |= 0; seed = seed + 0x6D2B79F5 | 0;
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
  return ((t ^ t >>> 14) >>> 0) / 4294967296;
}
const rint = (a, b) => a + Math.floor(rnd() * (b - a + 1));
const rexp = (mean) => -Math.log(1 - rnd()) * mean;
const AL = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?0123456789';
const text = (n) => { let s = ''; for (let i = 0; i < n; i++) s += AL[rint(0, AL.length - 1)]; return s; };
const log = (...a) => console.error(new Date().toISOString().slice(11, 23), ...a);
const [, , cmd, ...args] = process.argv;

if (cmd === 'server') {
  const http = require('http');
  const { Server } = require(path.join(NPM, 'socket.io'));
  const srv = http.createServer();
  const io = new Server(srv, { cors: { origin: '*' } });
  io.on('connection', (s) => {
    log('connect', s.id, s.conn.transport.name);
    s.on('chat', (m) => io.emit('chat', m));
  });
  const tick = () => {
    io.emit('notify', { at: Date.now(), body: text(rint(40, 500)) });
    setTimeout(tick, rexp(6000));
  };
  setTimeout(tick, rexp(6000));
  srv.listen(+args[0], '127.0.0.1', () => log('socket.io server on', args[0]));
} else if (cmd === 'client') {
  const { io } = require(path.join(NPM, 'socket.io-client'));
  const [url, mode, dur, gap, sd] = args;
  seed = +sd;
  const s = io(url, {
    transports: mode === 'polling' ? ['polling'] : ['polling', 'websocket'],
    upgrade: mode !== 'polling', rejectUnauthorized: false, reconnection: false,
  });
  let rx = 0, tx = 0;
  const end = Date.now() + 1000 * +dur;
  s.on('connect', () => log('connected', s.io.engine.transport.name));
  s.io.on('open', () => s.io.engine.on('upgrade', (t) => log('upgraded to', t.name)));
  s.on('chat', (m) => { rx += JSON.stringify(m).length; });
  s.on('notify', (m) => { rx += JSON.stringify(m).length; });
  const chat = () => {
    if (Date.now() >= end) return;
    const m = rnd() < 0.05 ? { blob: text(rint(2000, 20000)) } : { text: text(rint(20, 300)) };
    s.emit('chat', m); tx += JSON.stringify(m).length;
    setTimeout(chat, rexp(1000 * +gap));
  };
  if (+gap > 0) setTimeout(chat, rexp(1000 * +gap));
  setTimeout(() => { s.close(); log(`closed: ${tx} out, ${rx} in`); setTimeout(() => process.exit(0), 300); }, 1000 * +dur);
  s.on('connect_error', (e) => { log('connect_error', e.message); });
} else {
  console.error('usage: see the head of sio.js');
  process.exit(2);
}
