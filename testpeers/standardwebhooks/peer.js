// Independent Standard Webhooks peer for Tributary's tests, using the npm
// package `standardwebhooks` (the reference TypeScript implementation).
//
//   node peer.js serve <whsec_secret>   HTTP receiver on 127.0.0.1:<random>;
//                                       prints {"port":N} then answers every
//                                       request 204 if the signature verifies,
//                                       401 {"error":...} otherwise. GET /log
//                                       returns what it saw (verified requests
//                                       with their body and headers).
//   node peer.js sign <whsec_secret> <id> <unix_ts>   signs stdin, prints the
//                                       webhook-signature value.
"use strict";
const http = require("http");
const { Webhook } = require("standardwebhooks");

const [cmd, secret, ...rest] = process.argv.slice(2);
const wh = new Webhook(secret);

if (cmd === "sign") {
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    const body = Buffer.concat(chunks).toString();
    process.stdout.write(wh.sign(rest[0], new Date(Number(rest[1]) * 1000), body));
  });
} else if (cmd === "serve") {
  const log = [];
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/log") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(log));
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      try {
        wh.verify(body, req.headers);
        log.push({ ok: true, id: req.headers["webhook-id"], method: req.method, url: req.url, body, headers: req.headers });
        res.writeHead(204);
        res.end();
      } catch (e) {
        log.push({ ok: false, id: req.headers["webhook-id"], error: String(e.message) });
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: String(e.message) }));
      }
    });
  });
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
  });
  process.stdin.on("end", () => process.exit(0)); // exit with the test
  process.stdin.resume();
} else {
  process.stderr.write("usage: peer.js serve|sign <secret> ...\n");
  process.exit(2);
}
