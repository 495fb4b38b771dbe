/*
 * nws.js -- a small NetWorkSpaces protocol client for the browser tests,
 * written from shared/docs/nws-protocol.md: the new-style handshake with
 * metadata both ways (section 2), request framing (section 3) and short
 * and long replies (section 4).  Requests on one connection are awaited
 * one at a time.
 */
'use strict';
const net = require('net');

const d4 = (n) => String(n).padStart(4, '0');
const d20 = (n) => String(n).padStart(20, '0');

function dict(obj) {
  const parts = [Buffer.from(d4(Object.keys(obj).length))];
  for (const [k, v] of Object.entries(obj)) {
    const kb = Buffer.from(k), vb = Buffer.from(String(v));
    parts.push(Buffer.from(d4(kb.length)), kb, Buffer.from(d4(vb.length)), vb);
  }
  return Buffer.concat(parts);
}

class Conn {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.pending = [];
    this.error = null;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.pump(); });
    const fail = (e) => {
      this.error = e || new Error('connection closed');
      for (const p of this.pending.splice(0)) p.reject(this.error);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(null));
  }

  static open(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({host: '127.0.0.1', port}, async () => {
        const c = new Conn(sock);
        try {
          sock.write('X000');
          if ((await c.read(4)).toString() !== 'P000') throw new Error('no P000');
          await c.readDict();
          sock.write(Buffer.concat([Buffer.from('R000'),
            dict({MetadataToServer: '1', MetadataFromServer: '1'})]));
          if ((await c.read(4)).toString() !== 'A000') throw new Error('handshake refused');
          resolve(c);
        } catch (e) { sock.destroy(); reject(e); }
      });
      sock.on('error', reject);
    });
  }

  pump() {
    while (this.pending.length && this.buf.length >= this.pending[0].n) {
      const p = this.pending.shift();
      const out = Buffer.from(this.buf.subarray(0, p.n));
      this.buf = this.buf.subarray(p.n);
      p.resolve(out);
    }
  }

  read(n) {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => { this.pending.push({n, resolve, reject}); this.pump(); });
  }

  async num(n) { return parseInt((await this.read(n)).toString(), 10); }

  async readDict() {
    const out = {};
    for (let i = await this.num(4); i > 0; i--) {
      const k = (await this.read(await this.num(4))).toString();
      out[k] = (await this.read(await this.num(4))).toString();
    }
    return out;
  }

  send(meta, args) {
    const parts = [dict(meta || {}), Buffer.from(d4(args.length))];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(Buffer.from(d20(b.length)), b);
    }
    this.sock.write(Buffer.concat(parts));
  }

  async short(what) {
    const meta = await this.readDict();
    const status = await this.num(4);
    if (status !== 0) throw new Error(what + ': status ' + status + ' ' + (meta.nwsReason || ''));
  }

  async long(what) {
    const meta = await this.readDict();
    const status = await this.num(4);
    const desc = await this.num(20);
    await this.read(40);                 /* the cookie: variable id and index */
    const value = await this.read(await this.num(20));
    if (status !== 0) throw new Error(what + ': status ' + status + ' ' + (meta.nwsReason || ''));
    return {meta, desc, value};
  }

  async openWs(name, persistent) {
    this.send({}, ['open ws', name, String(process.pid), persistent ? 'yes' : 'no']);
    await this.short('open ws');
  }
  async useWs(name) { this.send({}, ['use ws', name, '', 'no']); await this.short('use ws'); }
  async mktemp(template, meta) {
    this.send(meta, ['mktemp ws', template]);
    return (await this.long('mktemp ws')).value.toString();
  }
  async store(ws, v, value, meta, desc) {
    this.send(meta, ['store', ws, v, d20(desc == null ? 1 : desc), value]);
    await this.short('store');
  }
  async fetch(ws, v) { this.send({}, ['fetch', ws, v]); return this.long('fetch'); }
  close() { this.sock.destroy(); }
}

module.exports = {Conn};
