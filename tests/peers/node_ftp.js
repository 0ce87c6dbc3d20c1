// Node's three common FTP libraries against a server: each uploads the
// payload, downloads it back, lists, and must report no error at all (an
// upload that arrived but was reported failed is a failure here).
// usage: node node_ftp.js PORT PAYLOAD
"use strict";
const fs = require("fs");
const { Readable, Writable } = require("stream");
const [port, payloadPath] = process.argv.slice(2);
const payload = fs.readFileSync(payloadPath);
const host = "127.0.0.1";

function sink() {
  const parts = [];
  const w = new Writable({ write(c, _e, cb) { parts.push(c); cb(); } });
  w.bytes = () => Buffer.concat(parts);
  return w;
}
function check(lib, got) {
  if (!payload.equals(got)) throw new Error(`${lib}: downloaded ${got.length} bytes differ from the ${payload.length} sent`);
}

async function basic() {
  const ftp = require("basic-ftp");
  const c = new ftp.Client(20000);
  try {
    await c.access({ host, port: +port, user: "anonymous", password: "x" });
    for (let i = 0; i < 3; i++) await c.uploadFrom(Readable.from([payload]), `basic${i}.bin`);
    await c.appendFrom(Readable.from([payload]), "basic0.bin");
    const s = sink();
    await c.downloadTo(s, "basic1.bin");
    check("basic-ftp", s.bytes());
    const names = (await c.list()).map((f) => f.name);
    if (!names.includes("basic2.bin")) throw new Error(`basic-ftp: list lacks basic2.bin: ${names}`);
    if (c.closed) throw new Error("basic-ftp closed itself");
  } finally {
    c.close();
  }
}

function mscdex() {
  const Ftp = require("ftp");
  return new Promise((resolve, reject) => {
    const c = new Ftp();
    c.on("error", reject);
    c.on("ready", () => {
      c.put(payload, "ftp.bin", (e) => {
        if (e) return reject(new Error(`ftp put: ${e.message}`));
        c.get("ftp.bin", (e, stream) => {
          if (e) return reject(new Error(`ftp get: ${e.message}`));
          const s = sink();
          stream.on("error", reject);
          stream.pipe(s).on("finish", () => {
            try { check("ftp", s.bytes()); } catch (x) { return reject(x); }
            c.list((e, list) => {
              if (e) return reject(new Error(`ftp list: ${e.message}`));
              if (!list.some((f) => f.name === "ftp.bin")) return reject(new Error("ftp: list lacks ftp.bin"));
              c.end();
              resolve();
            });
          });
        });
      });
    });
    c.connect({ host, port: +port, connTimeout: 20000, pasvTimeout: 20000 });
  });
}

function jsftp() {
  const JsFtp = require("jsftp");
  return new Promise((resolve, reject) => {
    const c = new JsFtp({ host, port: +port, user: "anonymous", pass: "x" });
    c.on("error", reject);
    c.put(payload, "jsftp.bin", (e) => {
      if (e) return reject(new Error(`jsftp put: ${e.message}`));
      c.get("jsftp.bin", (e, socket) => {
        if (e) return reject(new Error(`jsftp get: ${e.message}`));
        const s = sink();
        socket.on("error", reject);
        socket.pipe(s).on("finish", () => {
          try { check("jsftp", s.bytes()); } catch (x) { return reject(x); }
          c.raw("quit", () => resolve());
        });
        socket.resume();
      });
    });
  });
}

(async () => {
  let failed = 0;
  for (const [name, run] of [["basic-ftp", basic], ["ftp", mscdex], ["jsftp", jsftp]]) {
    try {
      await run();
      console.log(`ok ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAILED ${name}: ${e.message}`);
    }
  }
  if (!failed) console.log("ok");
  process.exit(failed ? 1 : 0);
})();
