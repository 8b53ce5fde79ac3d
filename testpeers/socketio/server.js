// A real socket.io 2.x server (Engine.IO v3) playing the provider's Streaming
// API for the sources/socketio integration test. The Go test drives it over
// plain HTTP on the same port:
//   POST /control/emit   {"event": "...", "data": {...}}  emit to every socket
//   POST /control/rotate {"token": "..."}                 only this token is valid from now on
//   GET  /control/clients                                  {"clients": n}
//   POST /control/mute   {"count": n}                      leave the next n commands with a new id unanswered
//                                                          (a re-send of the same id is answered)
//   GET  /control/commands                                 {"commands": [{id, topic, body}, ...]} as received
//   POST /control/stream {"event": "...", "perTick": n}    emit {id, seq} n times a millisecond tick until stopped
//   DELETE /control/stream                                 stop streaming
//   GET  /control/stream  {"emitted": n, "unheard": [seq]}  seqs emitted so far (0..n-1); those with no socket connected
// Sockets whose token is no longer valid get `invalidToken` instead of each
// event; the events are held and replayed once the socket sends
// `renewedToken {token}` with the valid token. `command {id, topic, body}` is
// answered with `command.result.succeed {body: {commandId}}`, or with
// `serverError` for an unknown topic or doorId 999.
'use strict';
const http = require('http');
const crypto = require('crypto');

const port = Number(process.env.PORT || 0);
let validToken = process.env.TOKEN || '';
let mute = 0; // new command ids to leave unanswered (a panel whose result is lost)
const received = [];
const seenIds = new Set();
const commands = new Set([
  'door.actuate.close', 'door.actuate.dnd', 'door.actuate.forcetoggle', 'door.actuate.open',
  'door.alarm.forced.clear', 'door.try.dwellopen', 'door.try.open', 'endpoint.discover', 'endpoint.querysignal',
]);

function readJSON(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { try { resolve(body ? JSON.parse(body) : {}); } catch (e) { reject(e); } });
  });
}

const stream = { timer: null, emitted: 0, unheard: [] };

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/control/stream') {
      const { event, perTick } = await readJSON(req);
      clearInterval(stream.timer);
      stream.timer = setInterval(() => {
        for (let i = 0; i < (perTick || 1); i++) {
          const seq = stream.emitted++;
          const sockets = Object.values(io.sockets.sockets);
          if (sockets.length === 0) stream.unheard.push(seq);
          for (const s of sockets) deliver(s, event, { id: `${event}-${seq}`, seq });
        }
      }, 1);
      res.end('{}');
    } else if (req.method === 'DELETE' && req.url === '/control/stream') {
      clearInterval(stream.timer);
      res.end('{}');
    } else if (req.url === '/control/stream') {
      res.end(JSON.stringify({ emitted: stream.emitted, unheard: stream.unheard }));
    } else if (req.method === 'POST' && req.url === '/control/emit') {
      const { event, data } = await readJSON(req);
      for (const s of Object.values(io.sockets.sockets)) deliver(s, event, data);
      res.end('{}');
    } else if (req.method === 'POST' && req.url === '/control/rotate') {
      validToken = (await readJSON(req)).token;
      res.end('{}');
    } else if (req.method === 'POST' && req.url === '/control/mute') {
      mute = Number((await readJSON(req)).count) || 0;
      res.end('{}');
    } else if (req.url === '/control/commands') {
      res.end(JSON.stringify({ commands: received }));
    } else if (req.url === '/control/clients') {
      res.end(JSON.stringify({ clients: Object.keys(io.sockets.sockets).length }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  } catch (e) {
    res.statusCode = 400;
    res.end(String(e));
  }
});

const io = require('socket.io')(server, {
  serveClient: false,
  transports: ['websocket'],
  pingInterval: Number(process.env.PING_INTERVAL || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT || 5000),
});

io.use((socket, next) => {
  const token = socket.handshake.query.token;
  if (validToken && token !== validToken) return next(new Error('Authentication error'));
  socket.token = token;
  socket.held = [];
  next();
});

function now() {
  const d = new Date();
  return { occurred: d.toISOString().replace('T', ' ').slice(0, 19), ms: d.getTime() };
}

function deliver(socket, event, data) {
  if (validToken && socket.token !== validToken) {
    socket.held.push([event, data]);
    socket.emit('invalidToken', { message: 'Token has expired.' });
    return;
  }
  socket.emit(event, data);
}

io.on('connection', (socket) => {
  socket.on('renewedToken', (msg) => {
    if (!msg || msg.token !== validToken) {
      socket.emit('invalidToken', { message: 'Token is invalid.' });
      return;
    }
    socket.token = msg.token;
    const held = socket.held;
    socket.held = [];
    for (const [event, data] of held) socket.emit(event, data);
  });
  socket.on('command', (cmd) => {
    received.push(cmd);
    const isNew = cmd && !seenIds.has(cmd.id);
    if (cmd) seenIds.add(cmd.id);
    if (mute > 0 && isNew) {
      mute--;
      return;
    }
    if (!cmd || !commands.has(cmd.topic) || (cmd.body && cmd.body.doorId === 999)) {
      deliver(socket, 'serverError', { message: 'Command is not supported.' });
      return;
    }
    const t = now();
    deliver(socket, 'command.result.succeed', {
      id: crypto.randomBytes(16).toString('hex'),
      topic: 'command.result.succeed',
      body: { commandId: cmd.id },
      occurred: t.occurred,
      metadata: { occurred: t.ms },
    });
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
