// The real-time stream: GET /api/v1/events as a WebSocket, authenticated by its first
// frame (a browser cannot set headers on a WebSocket, and a token never goes in a URL).
// It reconnects by itself with a growing delay and resumes from the last cursor it saw,
// so nothing is missed and nothing comes twice; a cursor the server no longer holds
// (`resync_required`) makes the app reload its state.

import { token } from './api.js';

const MAX_DELAY_MS = 10_000;

export class EventStream {
  /**
   * handlers: onEvent(event), onStatus('connecting'|'live'|'offline'), onResync(),
   * onUnauthorized().
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.cursor = null;
    this.socket = null;
    this.stopped = true;
    this.attempt = 0;
    this.timer = null;
  }

  /** Connects; resolves once the stream is live the first time (events from then on are not missed). */
  start() {
    this.stopped = false;
    const ready = new Promise((resolve) => { this.onFirstReady = resolve; });
    this.connect();
    return ready;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, 'bye');
    this.socket = null;
  }

  connect() {
    if (this.stopped) return;
    // While reconnecting, the page keeps saying it is offline until the stream is back.
    if (this.status !== 'offline') this.setStatus('connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/events`);
    this.socket = socket;
    socket.addEventListener('open', () => {
      const frame = { type: 'auth', token: token() };
      if (this.cursor) frame.since = this.cursor;
      socket.send(JSON.stringify(frame));
    });
    socket.addEventListener('message', (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch { return; }
      if (event.type === 'ready') {
        this.attempt = 0;
        // The stream's head when this connection began: where to resume if the server
        // says the cursor given is too old.
        this.readyCursor = event.cursor;
        if (!this.cursor) this.cursor = event.cursor;
        this.setStatus('live');
        this.onFirstReady?.();
        this.onFirstReady = null;
        return;
      }
      if (event.type === 'resync_required') {
        this.cursor = this.readyCursor || null;
        this.handlers.onResync?.();
        return;
      }
      if (event.cursor) this.cursor = event.cursor;
      this.handlers.onEvent(event);
    });
    socket.addEventListener('close', (e) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (e.code === 4001) {
        this.handlers.onUnauthorized?.();
        return;
      }
      if (e.code === 4009) {
        this.cursor = null;
        this.handlers.onResync?.();
      }
      this.setStatus('offline');
      this.schedule();
    });
  }

  setStatus(status) {
    this.status = status;
    this.handlers.onStatus?.(status);
  }

  schedule() {
    clearTimeout(this.timer);
    const delay = Math.min(MAX_DELAY_MS, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnects now (the browser came back online, or the user asked). */
  retryNow() {
    if (this.stopped || this.socket) return;
    this.attempt = 0;
    clearTimeout(this.timer);
    this.connect();
  }
}
