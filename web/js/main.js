// Entry point: signs in (or shows the sign-in page), builds the shell, routes by the URL's
// hash and feeds the event stream into the state.
//
// Routes: #/ (the conversation list), #/c/<id> (a thread), #/c/<id>/<seq> (a thread at a
// message), #/people, #/u/<username>, #/settings/<tab>, #/admin/<tab>.

import { api, clearBlobs, get, setToken, token, whenUnauthorized } from './api.js';
import { announce, h, mount } from './dom.js';
import { EventStream } from './events.js';
import { lang, setLang, t, LANGS } from './i18n.js';
import {
  emit, fetchConversation, loadAllFolders, noteMessage, on, profile, putConversation, dropConversation, reset, state,
} from './state.js';
import { renderAuth } from './auth.js';
import { renderSidebar } from './sidebar.js';
import { applyEvent as threadEvent, renderThread } from './thread.js';
import { renderPeople, renderProfile } from './people.js';
import { renderSettings } from './settings.js';
import { renderAdmin } from './admin.js';
import { notifyMessage, updateTitle } from './notify.js';

const app = document.getElementById('app');
let stream = null;
let mainCleanup = null;
let mainEl = null;
let shellEl = null;
let cleanup = [];

whenUnauthorized(() => signOut(false));

async function boot() {
  document.documentElement.lang = lang();
  if (!token()) {
    showAuth();
    return;
  }
  try {
    state.me = await get('/me');
  } catch (err) {
    if (err.status === 401) setToken(null);
    showAuth(err.status === 401 ? null : err);
    return;
  }
  await startSession();
}

function showAuth(error) {
  app.removeAttribute('aria-busy');
  renderAuth(app, { error, onSignedIn: async (me) => { state.me = me; await startSession(); } });
}

/**
 * Runs `fn` after everything queued before it: events apply one at a time, in order, and
 * a reload of the lists takes its place among them (so an older list answer never
 * overwrites what a later event brought).
 */
let events = Promise.resolve();
function queued(fn) {
  events = events.then(fn).catch((err) => console.error(err));
  return events;
}

async function startSession() {
  stream?.stop();
  const mine = new EventStream({
    onEvent: (event) => queued(() => handleEvent(event)),
    onStatus: (status) => { state.connection = status; emit('connection'); if (status === 'live' && wasOffline) { wasOffline = false; emit('reconnected'); } if (status === 'offline') wasOffline = true; },
    // Events were lost: every list and thread is read again (the open one at once, the
    // others when opened); unsent messages and drafts stay.
    onResync: () => queued(async () => {
      for (const thread of state.threads.values()) thread.loaded = false;
      await loadAllFolders().catch(() => {});
      emit('resync');
    }),
    onUnauthorized: () => signOut(false),
  });
  stream = mine;
  // The stream first, then the lists: whatever happens in between comes as events.
  await Promise.race([mine.start(), new Promise((r) => { setTimeout(r, 3000); })]);
  await queued(() => loadAllFolders().catch(() => {}));
  // Signed out meanwhile (the session was revoked): stay on the sign-in page.
  if (!state.me || stream !== mine) return;
  renderShell();
  route();
}

let wasOffline = false;

window.addEventListener('online', () => stream?.retryNow());
window.addEventListener('hashchange', () => route());

/** Logs out: ends the session on the server (when asked to) and forgets everything here. */
export async function signOut(callServer = true) {
  if (!state.me && !callServer) return; // already signed out (a late 401 of an old call)
  stream?.stop();
  stream = null;
  if (callServer) await api('DELETE', '/sessions/current').catch(() => {});
  setToken(null);
  clearBlobs();
  document.querySelector('.menu')?.remove();
  reset();
  mainCleanup?.();
  mainCleanup = null;
  cleanup.forEach((fn) => fn());
  cleanup = [];
  mainEl = null;
  if (location.hash !== '' && location.hash !== '#/') history.replaceState(null, '', '#/');
  showAuth();
  updateTitle();
}

function renderShell() {
  cleanup.forEach((fn) => fn());
  cleanup = [];
  app.removeAttribute('aria-busy');
  document.documentElement.lang = lang();
  const status = h('span', { class: 'conn', role: 'status' });
  const showStatus = () => {
    status.dataset.state = state.connection;
    status.textContent = state.connection === 'live' ? '' : t(state.connection === 'offline' ? 'conn.offline' : 'conn.connecting');
  };
  showStatus();
  cleanup.push(on('connection', showStatus));
  const langSelect = h('select', {
    'aria-label': t('settings.language'),
    class: 'lang',
    onchange: (e) => { setLang(e.target.value); renderShell(); route(); announce(t('settings.languageChanged')); },
  }, LANGS.map((l) => h('option', { value: l.code, selected: l.code === lang() }, l.name)));
  const nav = h('nav', { class: 'topnav', 'aria-label': t('nav.main') },
    h('a', { href: '#/', 'data-nav': 'chats' }, t('nav.chats')),
    h('a', { href: '#/people', 'data-nav': 'people' }, t('nav.people')),
    h('a', { href: '#/settings/profile', 'data-nav': 'settings' }, t('nav.settings')),
    state.me?.is_admin ? h('a', { href: '#/admin/reports', 'data-nav': 'admin' }, t('nav.admin')) : null);
  const meName = h('span', { class: 'me-name' }, state.me?.display_name);
  cleanup.push(on('me', () => { meName.textContent = state.me?.display_name || ''; }));
  const sidebar = h('aside', { class: 'sidebar', 'aria-label': t('nav.conversations') });
  mainEl = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  shellEl = h('div', { class: 'shell', 'data-view': 'list' },
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); mainEl.focus(); } }, t('nav.skip')),
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '#/' }, h('img', { src: '/assets/icon.svg', alt: '', width: 28, height: 28 }), 'hilo'),
      status,
      nav,
      h('div', { class: 'me' },
        langSelect,
        meName,
        h('button', { type: 'button', onclick: () => signOut(true) }, t('auth.logout')))),
    h('div', { class: 'body' }, sidebar, mainEl));
  mount(app, shellEl);
  cleanup.push(renderSidebar(sidebar));
  updateTitle();
}

/** Shows what the hash names in the main pane. */
function route() {
  if (!state.me || !mainEl) return;
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  } catch {
    parts = [''];
  }
  mainCleanup?.();
  mainCleanup = null;
  const [section, a, b] = parts;
  let view = 'main';
  const navKey = { c: 'chats', '': 'chats', people: 'people', u: 'people', settings: 'settings', admin: 'admin' }[section] || 'chats';
  for (const link of shellEl.querySelectorAll('.topnav a')) {
    if (link.dataset.nav === navKey) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (section === 'c' && a) {
    mainCleanup = renderThread(mainEl, a, b ? Number(b) : null);
  } else if (section === 'people') {
    mainCleanup = renderPeople(mainEl);
  } else if (section === 'u' && a) {
    mainCleanup = renderProfile(mainEl, a);
  } else if (section === 'settings') {
    mainCleanup = renderSettings(mainEl, a || 'profile', { signOut, rerender: () => { renderShell(); route(); } });
  } else if (section === 'admin' && state.me.is_admin) {
    mainCleanup = renderAdmin(mainEl, a || 'reports');
  } else {
    view = 'list';
    mount(mainEl, h('div', { class: 'empty-main' },
      h('img', { src: '/assets/icon.svg', alt: '', width: 64, height: 64 }),
      h('p', {}, t('chat.pick'))));
  }
  shellEl.dataset.view = view;
  const titles = { people: 'nav.people', u: 'nav.people', settings: 'nav.settings', admin: 'nav.admin' };
  state.viewTitle = titles[section] ? t(titles[section]) : '';
  updateTitle();
  // On a phone the list and the view are separate screens: move focus to the new one.
  if (view === 'main' && window.matchMedia('(max-width: 759px)').matches) mainEl.focus({ preventScroll: true });
  emit('route', { section, id: a });
}

/** Applies one event of the stream to the state, then lets the views know. */
async function handleEvent(event) {
  switch (event.type) {
    case 'message.created': {
      const conv = state.conversations.get(event.conversation_id) || await fetchConversation(event.conversation_id).catch(() => null);
      if (conv) {
        noteMessage(conv, event.message);
        putConversation(conv);
        notifyMessage(conv, event.message);
      }
      threadEvent(event);
      break;
    }
    case 'message.updated': {
      const conv = state.conversations.get(event.conversation_id);
      if (conv?.last_message?.id === event.message.id) { conv.last_message = event.message; putConversation(conv); }
      threadEvent(event);
      break;
    }
    case 'message.hidden': {
      threadEvent(event);
      // The list's preview and count leave it out too: read the conversation again.
      const conv = state.conversations.get(event.conversation_id);
      if (conv?.last_message?.id === event.message_id || conv?.unread_count) {
        const fresh = await get(`/conversations/${encodeURIComponent(event.conversation_id)}`).catch(() => null);
        if (fresh) putConversation(fresh);
      }
      break;
    }
    case 'conversation.created':
    case 'conversation.updated':
      if (event.conversation) putConversation(event.conversation);
      else dropConversation(event.conversation_id);
      break;
    case 'read': {
      const conv = state.conversations.get(event.conversation_id);
      if (conv && event.user_id === state.me.id) {
        conv.last_read_seq = Math.max(conv.last_read_seq || 0, event.seq);
        conv.unread_count = Math.max(0, (conv.last_seq || 0) - conv.last_read_seq);
        putConversation(conv);
      }
      threadEvent(event);
      break;
    }
    case 'delivered':
      threadEvent(event);
      break;
    case 'typing': {
      if (!state.typing.has(event.conversation_id)) state.typing.set(event.conversation_id, new Map());
      const map = state.typing.get(event.conversation_id);
      if (event.typing) map.set(event.user_id, Date.now() + 6000);
      else map.delete(event.user_id);
      emit(`typing:${event.conversation_id}`);
      break;
    }
    case 'presence':
      state.presence.set(event.user_id, { online: event.online, last_seen_at: event.last_seen_at });
      emit('presence', event.user_id);
      break;
    case 'user.updated': {
      if (event.me) { state.me = event.me; emit('me'); }
      // A new name shows everywhere the person is: members, senders, previews.
      const { user } = event;
      state.namesVersion += 1;
      for (const thread of state.threads.values()) {
        for (const m of thread.messages.values()) if (m.sender?.id === user.id) m.sender.display_name = user.display_name;
      }
      for (const conv of [...state.conversations.values()]) {
        const member = conv.members.some((m) => m.id === user.id);
        for (const m of conv.members) if (m.id === user.id) m.display_name = user.display_name;
        if (conv.last_message?.sender?.id === user.id) conv.last_message.sender.display_name = user.display_name;
        if (member || state.threads.has(conv.id)) putConversation(conv);
      }
      emit('conversations');
      break;
    }
    case 'friend.request':
      if (event.direction === 'incoming') announce(t('people.requestFrom', { name: event.user.display_name }));
      emit('friends');
      break;
    case 'friend.accepted':
    case 'friend.removed':
    case 'block.updated':
      emit('friends');
      break;
    case 'session.revoked':
      emit('sessions');
      break;
    default:
      break;
  }
}

// Re-read the folders and the open thread after the stream said events were lost.

// Profiles of direct conversations' peers give the presence dots their first state.
on('conversations', () => {
  for (const conv of state.conversations.values()) {
    if (conv.kind !== 'direct') continue;
    const other = conv.members.find((m) => m.id !== state.me?.id);
    if (other?.username && other.kind !== 'contact' && !state.users.has(other.username)) {
      state.users.set(other.username, null);
      profile(other.username).catch(() => {});
    }
  }
});

boot();
