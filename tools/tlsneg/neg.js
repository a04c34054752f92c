// One end of a Node.js TLS session for tools/tls_negatives.py (Node 20, its own OpenSSL).
// usage: node neg.js KIND ROLE IP PORT TLSVER CIPHERS SPEC DUR CERT KEY
//   KIND: tls (net sockets), https (HTTP/1.1 keep-alive), h2 (http2), ws (WebSocket, the
//   Debian node-ws library), ROLE: server or client, TLSVER 1.2 / 1.3, CIPHERS '-' or an
//   OpenSSL cipher string, SPEC: this end's schedule (see tls_negatives.py):
//     w SIZE PAUSE           one write (tls, ws: a message; https/h2 server: an SSE event)
//     r SIZE[,SIZE..] BODY PAUSE   client: requests in parallel (h2) or in turn (https)
//     o KEY VALUE            option: chunk (server response write size, 0 = whole),
//                            path (b: plain GET/POST, v: Range requests, sse: event stream)
'use strict';
const fs = require('fs');
const tls = require('tls');
const https = require('https');
const http2 = require('http2');
const [kind, role, ip, portS, ver, ciphers, specPath, durS, certPath, keyPath] =
  process.argv.slice(2);
const port = Number(portS);
const dur = Number(durS);
const W = [], R = [], O = {};
for (const line of fs.readFileSync(specPath, 'utf8').split('\n')) {
  const f = line.trim().split(/\s+/);
  if (f[0] === 'w') W.push([Number(f[1]), Number(f[2])]);
  else if (f[0] === 'r') R.push([f[1].split(',').map(Number), Number(f[2]), Number(f[3])]);
  else if (f[0] === 'o') O[f[1]] = f[2];
}
const tlsOpt = { minVersion: 'TLSv' + ver, maxVersion: 'TLSv' + ver };
if (ciphers !== '-') tlsOpt.ciphers = ciphers;
const BLOB = Buffer.alloc(2100000);
for (let i = 0; i < BLOB.length; i++) BLOB[i] = (i * 7919 + (i >> 8)) & 0xff;
const sleep = (s) => new Promise((ok) => setTimeout(ok, s * 1000));
const quit = () => process.exit(0);
setTimeout(quit, (dur + 8) * 1000).unref();

function bytes(n) {
  if (n <= BLOB.length) return BLOB.subarray(0, n);
  return Buffer.concat(Array(Math.ceil(n / BLOB.length)).fill(BLOB)).subarray(0, n);
}

async function pump(send, closed) {
  for (const [n, p] of W) {
    if (closed()) return;
    send(n);
    await sleep(p);
  }
}

function respond(n, write, end) {  // a response body of n bytes, whole or in chunks
  const chunk = Number(O.chunk || 0);
  if (!chunk) { end(bytes(n)); return null; }
  let left = n, done = false;
  return () => {  // called again on 'drain'
    if (done) return;
    while (left > 0) {
      const k = Math.min(chunk, left);
      left -= k;
      if (!write(bytes(k)) && left > 0) return;
    }
    done = true;
    end();
  };
}

function serve(path, headers, writeHead, write, end, onDrain) {
  const m = /^\/(b|v|sse)\/?(\d*)/.exec(path) || [];
  if (m[1] === 'sse') {
    writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let gone = false;
    pump((n) => write(Buffer.concat([Buffer.from('data: '), bytes(Math.max(1, n - 8)),
      Buffer.from('\n\n')])), () => gone).then(end);
    return () => { gone = true; };
  }
  let n = Number(m[2] || 0);
  if (m[1] === 'v') {
    const r = /bytes=(\d+)-(\d+)/.exec(headers.range || '') || [0, 0, n - 1];
    n = Number(r[2]) - Number(r[1]) + 1;
    writeHead(206, { 'content-type': 'video/mp4', 'content-length': n,
      'content-range': `bytes ${r[1]}-${r[2]}/400000000` });
  } else {
    writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
  }
  const step = respond(n, write, end);
  if (step) { onDrain(step); step(); }
  return () => {};
}

let off = 0;  // the next Range request's first byte
function reqPath(n) {
  if (O.path === 'v') { off += n; return { path: '/v/', range: `bytes=${off - n}-${off - 1}` }; }
  if (O.path === 'sse') return { path: '/sse/' };
  return { path: '/b/' + n };
}

const cert = certPath && fs.readFileSync(certPath), key = keyPath && fs.readFileSync(keyPath);

if (kind === 'tls') {
  if (role === 'server') {
    const srv = tls.createServer({ ...tlsOpt, cert, key }, (s) => {
      let closed = false;
      s.on('data', () => {});
      s.on('close', () => { closed = true; quit(); });
      s.on('error', () => {});
      pump((n) => s.write(bytes(n)), () => closed).then(() => setTimeout(() => s.end(), 2000));
    });
    srv.listen(port, ip);
  } else {
    const s = tls.connect({ ...tlsOpt, host: ip, port, rejectUnauthorized: false }, () => {
      pump((n) => s.write(bytes(n)), () => closed).then(() => setTimeout(() => s.end(), 3000));
    });
    let closed = false;
    s.on('data', () => {});
    s.on('close', () => { closed = true; quit(); });
    s.on('error', quit);
  }
} else if (kind === 'https') {
  if (role === 'server') {
    const srv = https.createServer({ ...tlsOpt, cert, key, keepAliveTimeout: 60000 }, (req, res) => {
      req.on('data', () => {});
      req.on('end', () => {
        const stop = serve(req.url, req.headers, (c, h) => res.writeHead(c, h),
          (b) => res.write(b), (b) => res.end(b), (f) => res.on('drain', f));
        res.on('close', stop);
      });
    });
    srv.on('connection', (s) => s.on('close', () => setTimeout(quit, 500)));
    srv.listen(port, ip);
  } else {
    const agent = new https.Agent({ ...tlsOpt, keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const one = (n, body) => new Promise((ok) => {
      const p = reqPath(n);
      const headers = p.range ? { range: p.range } : {};
      if (body) headers['content-type'] = 'application/json';
      const rq = https.request({ host: ip, port, path: p.path, agent, headers,
        method: body ? 'POST' : 'GET' }, (res) => { res.on('data', () => {}); res.on('end', ok); });
      rq.on('error', ok);
      rq.end(body ? bytes(body) : undefined);
    });
    (async () => {
      for (const [sizes, body, p] of R) {
        await Promise.all(sizes.map((n) => one(n, body)));
        await sleep(p);
      }
      agent.destroy();
      quit();
    })();
  }
} else if (kind === 'h2') {
  if (role === 'server') {
    const srv = http2.createSecureServer({ ...tlsOpt, cert, key });
    srv.on('stream', (st, h) => {
      st.on('data', () => {});
      const go = () => {
        const stop = serve(h[':path'], h, (c, hd) => st.respond({ ':status': c, ...hd }),
          (b) => st.write(b), (b) => st.end(b), (f) => st.on('drain', f));
        st.on('close', stop);
      };
      if (st.readableEnded) go(); else st.on('end', go);
    });
    srv.on('session', (ss) => ss.on('close', () => setTimeout(quit, 500)));
    srv.listen(port, ip);
  } else {
    const ses = http2.connect(`https://${ip}:${port}`, { ...tlsOpt, rejectUnauthorized: false });
    ses.on('error', quit);
    const one = (n, body) => new Promise((ok) => {
      const p = reqPath(n);
      const h = { ':path': p.path, ':method': body ? 'POST' : 'GET' };
      if (p.range) h.range = p.range;
      const st = ses.request(h);
      st.on('data', () => {});
      st.on('end', ok);
      st.on('error', ok);
      st.end(body ? bytes(body) : undefined);
    });
    (async () => {
      for (const [sizes, body, p] of R) {
        await Promise.all(sizes.map((n) => one(n, body)));
        await sleep(p);
      }
      ses.close();
      setTimeout(quit, 1000);
    })();
  }
} else if (kind === 'ws') {
  const { WebSocket, WebSocketServer } = require('/usr/share/nodejs/ws');
  const text = O.text === '1';
  const run = (w) => {
    let closed = false;
    w.on('message', () => {});
    w.on('close', () => { closed = true; quit(); });
    w.on('error', () => {});
    pump((n) => w.send(text ? bytes(n).toString('latin1').replace(/[^ -~]/g, 'a') : bytes(n)),
      () => closed).then(() => setTimeout(() => w.close(), 2000));
  };
  if (role === 'server') {
    const srv = https.createServer({ ...tlsOpt, cert, key });
    new WebSocketServer({ server: srv }).on('connection', run);
    srv.listen(port, ip);
  } else {
    const w = new WebSocket(`wss://${ip}:${port}/chat`, { ...tlsOpt, rejectUnauthorized: false });
    w.on('open', () => run(w));
    w.on('error', quit);
  }
}
