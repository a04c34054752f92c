// WebSocket programs on Node.js with Debian's node-ws, for tools/pt_negatives.sh (non-Tor
// negatives for WebTunnel's items). Never run in CI. TLS is nginx's (it proxies wss to these).
//
//   node ws.js server PORT            chat hub on 127.0.0.1:PORT: relays each text message to
//                                     all clients, pushes a notification at random gaps (mean
//                                     4 s), and answers "bulk N" with N bytes in 16-64 KB frames
//   node ws.js client URL MODE DUR SEED [DOWN UP]
//        MODE chat: 20-300-byte JSON text at exponential gaps (mean 1.5 s), now and then a
//                   2-40 KB binary (a pasted image), for DUR s;
//        MODE bulk: asks the server for DOWN bytes and uploads UP bytes in 32 KB frames
//                   (paced), then chats until DUR s;
//   node ws.js tunserver PORT HOST TPORT   each WebSocket on 127.0.0.1:PORT is piped to a new
//                                     TCP connection to HOST:TPORT (a wstunnel-like server)
//   node ws.js tunclient LPORT URL    each TCP connection to 127.0.0.1:LPORT becomes a new wss
//                                     connection to URL carrying its bytes as binary frames
const net = require('net');
const crypto = require('crypto');
const { WebSocket, WebSocketServer } = require('/usr/share/nodejs/ws');

let seed = 1;
function rnd() { // mulberry32, seeded
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
  const wss = new WebSocketServer({ host: '127.0.0.1', port: +args[0] });
  const tick = () => {
    const m = JSON.stringify({ type: 'notify', at: Date.now(), body: text(rint(40, 600)) });
    for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(m);
    setTimeout(tick, rexp(4000));
  };
  setTimeout(tick, rexp(4000));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const s = isBinary ? null : data.toString();
      if (s && s.startsWith('bulk ')) {
        let left = +s.slice(5);
        const push = () => {
          while (left > 0 && ws.bufferedAmount < (1 << 20)) {
            const n = Math.min(left, rint(16384, 65536));
            ws.send(crypto.randomBytes(n)); left -= n;
          }
          if (left > 0) setTimeout(push, 20);
        };
        push();
      } else if (!isBinary) {
        for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: false });
      } else {
        ws.send(JSON.stringify({ type: 'ack', len: data.length }));
      }
    });
  });
  log('ws server on', args[0]);
} else if (cmd === 'client') {
  const [url, mode, dur, sd, down, up] = args;
  seed = +sd;
  const ws = new WebSocket(url, { rejectUnauthorized: false });
  const end = Date.now() + 1000 * +dur;
  let rx = 0, tx = 0;
  ws.on('message', (d) => { rx += d.length; });
  ws.on('open', () => {
    log('open', url, mode);
    const chat = () => {
      if (Date.now() >= end) { setTimeout(() => ws.close(1000), 1000); return; }
      if (rnd() < 0.04) { const b = crypto.randomBytes(rint(2000, 40000)); ws.send(b); tx += b.length; } else {
        const m = JSON.stringify({ type: 'msg', text: text(rint(20, 300)) }); ws.send(m); tx += m.length;
      }
      setTimeout(chat, rexp(1500));
    };
    if (mode === 'bulk') {
      ws.send('bulk ' + (+down || 0));
      let left = +up || 0;
      const push = () => {
        while (left > 0 && ws.bufferedAmount < (512 << 10)) {
          const n = Math.min(left, 32768); ws.send(crypto.randomBytes(n)); left -= n; tx += n;
        }
        if (left > 0) setTimeout(push, 30); else setTimeout(chat, 500);
      };
      push();
    } else chat();
  });
  ws.on('close', () => { log(`closed: ${tx} bytes out, ${rx} in`); process.exit(0); });
  ws.on('error', (e) => { log('error', e.message); process.exit(1); });
} else if (cmd === 'tunserver') {
  const [port, host, tport] = args;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: +port });
  wss.on('connection', (ws) => {
    const s = net.connect(+tport, host);
    s.on('data', (d) => ws.send(d));
    s.on('end', () => ws.close());
    s.on('error', () => ws.close());
    ws.on('message', (d) => s.write(d));
    ws.on('close', () => s.end());
  });
  log('tunnel server on', port, '->', host, tport);
} else if (cmd === 'tunclient') {
  const [lport, url] = args;
  net.createServer((s) => {
    s.pause();
    const ws = new WebSocket(url, { rejectUnauthorized: false });
    ws.on('open', () => { s.resume(); });
    s.on('data', (d) => ws.send(d));
    s.on('end', () => ws.close());
    s.on('error', () => ws.close());
    ws.on('message', (d) => s.write(d));
    ws.on('close', () => s.end());
    ws.on('error', () => s.destroy());
  }).listen(+lport, '127.0.0.1', () => log('tunnel client on', lport, '->', url));
} else {
  console.error('usage: see the head of ws.js');
  process.exit(2);
}
