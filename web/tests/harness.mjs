// What the browser tests and the screenshot script share: a real hilo server process on a
// loopback port (restartable on the same data directory), Debian's Chromium driven by
// playwright-core, the API for set-up steps, TOTP codes, and a PNG to upload.
//
// Environment: HILO_BIN (the binary; crates/hilo/tests/web.rs passes the one cargo built),
// HILO_TEST_CHROMIUM (default /usr/bin/chromium), HILO_TEST_LOG_DIR (as the Rust suite:
// the server logs at trace into process.jsonl-web-<pid> and every secret the tests use is
// written to secrets.txt-web-<pid>, for .ci/run's grep).

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const LOG_DIR = process.env.HILO_TEST_LOG_DIR;

/** Writes down a secret the tests used, for the log grep of .ci/run. */
export function secret(value) {
  if (LOG_DIR && value && String(value).length >= 10) {
    appendFileSync(join(LOG_DIR, `secrets.txt-web-${process.pid}`), `${value}\n`);
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * The mail server of the world outside, which tests cannot reach: an SMTP server on
 * loopback speaking the protocol's plain subset (no extensions) that takes every mail and
 * keeps it (`mails`: `{from, to, data}`). `close()` stops it.
 */
export async function smtpSink() {
  const mails = [];
  const server = createServer((socket) => {
    socket.setEncoding('latin1');
    let buffered = '';
    let envelope = { from: '', to: [] };
    let data = null;
    socket.write('220 sink.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (data !== null) {
          if (line === '.') {
            mails.push({ ...envelope, data: data.join('\r\n') });
            envelope = { from: '', to: [] };
            data = null;
            socket.write('250 2.0.0 taken\r\n');
          } else {
            data.push(line.startsWith('..') ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250 sink.test\r\n');
        else if (verb === 'MAIL') { envelope.from = line.slice(10).replace(/[<>]/g, '').split(' ')[0]; socket.write('250 2.1.0 ok\r\n'); }
        else if (verb === 'RCPT') { envelope.to.push(line.slice(8).replace(/[<>]/g, '')); socket.write('250 2.1.5 ok\r\n'); }
        else if (verb === 'DATA') { data = []; socket.write('354 go on\r\n'); }
        else if (verb === 'QUIT') { socket.end('221 2.0.0 bye\r\n'); }
        else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, mails, close: () => new Promise((r) => server.close(r)) };
}

/**
 * The SMS provider of the world outside: a stand-in of Twilio's Messages API on loopback
 * (basic auth, form body, 201 JSON) that keeps every text (`texts`: their forms), and signs
 * webhooks as Twilio does (`sign(url, params)`). `close()` stops it.
 */
export async function twilioStandIn() {
  const account = 'AC0123456789abcdef0123456789abcdef';
  const token = 'web-stand-in-token-51c0';
  const texts = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const expected = `Basic ${Buffer.from(`${account}:${token}`).toString('base64')}`;
      if (req.method !== 'POST' || !req.url.endsWith('/Messages.json') || req.headers.authorization !== expected) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 20003, message: 'Authenticate', status: 401 }));
        return;
      }
      const form = Object.fromEntries(new URLSearchParams(body));
      texts.push(form);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sid: `SM${String(texts.length).padStart(32, '0')}`, status: 'queued', num_segments: '1', to: form.To, from: form.From, body: form.Body }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sign = (url, params) => {
    const data = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
    return createHmac('sha1', token).update(data, 'utf8').digest('base64');
  };
  return {
    account,
    token,
    texts,
    number: '+15005550001',
    base: `http://127.0.0.1:${server.address().port}`,
    sign,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** A hilo server process with its own data directory (SQLite), on a fixed port across restarts. */
export class Server {
  /** `relay`: an `smtpSink()` that takes the server's outgoing mail; `sms`: a `twilioStandIn()`. */
  static async start({ relay, sms } = {}) {
    const server = new Server();
    server.relay = relay;
    server.sms = sms;
    server.dataDir = mkdtempSync(join(tmpdir(), 'hilo-web-'));
    server.port = await freePort();
    server.smtpPort = await freePort();
    server.base = `http://127.0.0.1:${server.port}`;
    await server.run();
    return server;
  }

  async run() {
    const bin = process.env.HILO_BIN;
    if (!bin) throw new Error('HILO_BIN names the hilo binary to test');
    const env = {
      ...process.env,
      HILO_LOG_FORMAT: 'json',
      // Every browser of the tests comes from 127.0.0.1: per-address limits would count them as one.
      HILO_LIMIT_REGISTRATIONS_PER_IP: '0',
      HILO_LIMIT_LOGIN_FAILURES_PER_IP: '0',
    };
    for (const key of ['HILO_CONFIG', 'HILO_DATABASE_URL', 'HILO_NATS_URL', 'HILO_REGISTRATION', 'HILO_MAIL_DOMAIN']) delete env[key];
    if (LOG_DIR) env.HILO_LOG = 'trace';
    const args = ['serve', '--listen', `127.0.0.1:${this.port}`, '--smtp-listen', `127.0.0.1:${this.smtpPort}`, '--mail-dns', 'none', '--data-dir', this.dataDir];
    if (this.relay) args.push('--smtp-relay', `smtp://127.0.0.1:${this.relay.port}`);
    if (this.sms) {
      const config = join(this.dataDir, 'hilo.toml');
      secret(this.sms.token);
      writeFileSync(config, `[[sms.providers]]\nid = "tw"\nkind = "twilio"\naccount_sid = "${this.sms.account}"\nauth_token = "${this.sms.token}"\napi_base = "${this.sms.base}"\nnumbers = ["${this.sms.number}"]\n`);
      args.push('--config', config);
    }
    this.child = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    let buffered = '';
    this.child.stderr.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (LOG_DIR) appendFileSync(join(LOG_DIR, `process.jsonl-web-${process.pid}`), `${line}\n`);
        if (/"level":"(WARN|ERROR)"/.test(line) || !line.startsWith('{')) process.stderr.write(`server: ${line}\n`);
      }
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const r = await fetch(`${this.base}/healthz`);
        if (r.ok) return;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the process (SIGTERM: a graceful shutdown, as a restart by an operator). */
  async stop() {
    this.child.kill('SIGTERM');
    await this.exited;
  }

  async restart() {
    await this.stop();
    await this.run();
  }

  async close() {
    if (this.child.exitCode === null) await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Sends a mail to the server over SMTP; `data` is the message, CRLF line ends. */
  async mail(from, to, data) {
    const socket = connect(this.smtpPort, '127.0.0.1');
    socket.setEncoding('utf8');
    let buffered = '';
    const waiting = [];
    socket.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (line[3] !== '-') waiting.shift()?.(line);
      }
    });
    const reply = () => new Promise((resolve) => waiting.push(resolve));
    const step = async (line, code) => {
      const answer = reply();
      if (line !== null) socket.write(`${line}\r\n`);
      const got = await answer;
      if (!got.startsWith(code)) throw new Error(`SMTP ${line}: ${got}`);
    };
    await step(null, '220');
    await step('EHLO web-tests', '250');
    await step(`MAIL FROM:<${from}> BODY=8BITMIME`, '250');
    await step(`RCPT TO:<${to}>`, '250');
    await step('DATA', '354');
    await step(`${data.replace(/^\./gm, '..')}\r\n.`, '250');
    await step('QUIT', '221');
    socket.end();
  }

  /** Calls the API (for set-up steps a test does not drive through the page). */
  async api(method, path, token, body) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`${this.base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    if (data?.token) secret(data.token);
    return data;
  }

  async register(username, password, displayName) {
    secret(password);
    return this.api('POST', '/accounts', undefined, { username, password, display_name: displayName });
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.HILO_TEST_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // As root in a container Chromium needs --no-sandbox; the rest keep it off the network
    // (the machine has none) and quiet.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A browser context as one person: English unless told, desktop size unless told. */
export async function person(browser, server, { locale = 'en-US', viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ baseURL: server.base, locale, viewport });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err));
  // Console errors fail a test, except the browser's own notes of failed requests: the
  // tests provoke those on purpose (a 401 asking for a 2FA code, a server that restarts).
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && !/^Failed to load resource|^WebSocket connection to .* failed/.test(text)) page.errors.push(new Error(text));
  });
  return { context, page };
}

/** RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret, `offset` steps from now. */
export function totp(base32, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of base32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const step = Math.floor(Date.now() / 30_000) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

/** A small RGB PNG of a colour gradient (a real picture the server decodes and thumbnails). */
export function png(width = 64, height = 48) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x += 1) {
      const at = y * (width * 3 + 1) + 1 + x * 3;
      raw[at] = Math.round((x / width) * 255);
      raw[at + 1] = Math.round((y / height) * 255);
      raw[at + 2] = 180;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Signs up through the page: the accessible names are the contract of issue 9. */
export async function signUp(page, username, password) {
  secret(password);
  await page.goto('/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('textbox', { name: 'Search' }).or(page.getByRole('searchbox', { name: 'Search' })).waitFor();
  secret(await page.evaluate(() => localStorage.getItem('hilo.token')));
}

/**
 * A server with accounts made through the API (password `<name>-long-secret-0`), the
 * first being the admin, and pairs of them friends; `open(name)` gives a page signed in as
 * one of them (the token put where the client keeps it).
 */
export async function world(accounts, friendships = [], { relay, sms } = {}) {
  const server = await Server.start({ relay, sms });
  const browser = await launch();
  const people = {};
  for (const [name, display] of accounts) people[name] = await server.register(name, `${name}-long-secret-0`, display);
  for (const [a, b] of friendships) {
    await server.api('POST', '/friends', people[a].token, { username: b });
    await server.api('POST', '/friends', people[b].token, { username: a });
  }
  const open = async (name, { locale = 'en-US', viewport = { width: 1280, height: 800 }, init, signedIn = true } = {}) => {
    const context = await browser.newContext({ baseURL: server.base, locale, viewport });
    if (signedIn) await context.addInitScript((token) => localStorage.setItem('hilo.token', token), people[name].token);
    if (init) await context.addInitScript(init);
    const page = await context.newPage();
    page.errors = [];
    page.on('pageerror', (err) => page.errors.push(err));
    await page.goto('/');
    if (signedIn) await page.locator('input[type=search]').first().waitFor();
    return page;
  };
  const api = (who, method, path, body) => server.api(method, path, people[who].token, body);
  const close = async () => { await browser.close(); await server.close(); };
  return { server, browser, people, open, api, close };
}
