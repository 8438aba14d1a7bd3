// What the client knows: the person signed in, their conversations, the messages of the
// threads they opened, receipts, typing and presence. Views subscribe to topics and
// re-render what changed; events from the stream and answers from the API both land here.

import { get, qs } from './api.js';

export const FOLDERS = ['inbox', 'requests', 'archived', 'spam'];

export const state = {
  me: null,
  conversations: new Map(), // id -> conversation (the caller's view of it)
  loadedFolders: new Map(), // folder -> { nextCursor, loaded }
  threads: new Map(), // conversation id -> Thread
  typing: new Map(), // conversation id -> Map(user id -> expiry ms)
  presence: new Map(), // user id -> { online, last_seen_at }
  users: new Map(), // username -> profile
  connection: 'connecting',
  namesVersion: 0, // bumped when someone's display name changes: rendered names are stale
  viewTitle: '', // what the tab title says besides the unread count
};

const listeners = new Map();

/** Subscribes to a topic ('conversations', 'thread:<id>', 'me', 'presence', ...). Returns an unsubscribe function. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic)?.delete(fn);
}

export function emit(topic, detail) {
  for (const fn of listeners.get(topic) || []) {
    try { fn(detail); } catch (err) { console.error(err); }
  }
}

/** Forgets everything (log out). */
export function reset() {
  state.me = null;
  state.conversations.clear();
  state.loadedFolders.clear();
  state.threads.clear();
  state.typing.clear();
  state.presence.clear();
  state.users.clear();
}

/** The name a conversation is shown by: a group's name, or the other person's. */
export function conversationName(conv) {
  if (!conv) return '';
  if (conv.kind === 'group') return conv.name || conv.members.map((m) => m.display_name).join(', ');
  const other = otherMember(conv);
  return other?.display_name || other?.username || other?.address || state.me?.display_name || '';
}

/** In a direct conversation, the other person (or contact). */
export function otherMember(conv) {
  if (!conv || conv.kind !== 'direct') return null;
  return conv.members.find((m) => m.id !== state.me?.id) || conv.members[0] || null;
}

export function memberById(conv, id) {
  return conv?.members.find((m) => m.id === id);
}

/** Stores a conversation object from the API or an event. */
export function putConversation(conv) {
  const old = state.conversations.get(conv.id);
  state.conversations.set(conv.id, conv);
  // The thread keeps the members it renders names with.
  emit('conversations');
  emit(`conversation:${conv.id}`, { old, conv });
  return conv;
}

export function dropConversation(id) {
  state.conversations.delete(id);
  state.threads.delete(id);
  emit('conversations');
  emit(`conversation:${id}`, { old: null, conv: null });
}

/** Conversations of a folder in list order: pinned first, then most recent activity. */
export function conversationsIn(folder) {
  const list = [...state.conversations.values()].filter((c) => c.folder === folder);
  const activity = (c) => c.last_message?.created_at || c.updated_at || c.created_at;
  return list.sort((a, b) => (Number(b.pinned) - Number(a.pinned)) || activity(b).localeCompare(activity(a)));
}

export async function loadFolder(folder, more = false) {
  const page = state.loadedFolders.get(folder);
  if (more && !page?.nextCursor) return;
  const data = await get(`/conversations${qs({ folder, cursor: more ? page.nextCursor : undefined })}`);
  for (const conv of data.conversations) state.conversations.set(conv.id, conv);
  state.loadedFolders.set(folder, { nextCursor: data.next_cursor, loaded: true });
  emit('conversations');
}

export async function loadAllFolders() {
  state.conversations.clear();
  state.loadedFolders.clear();
  await Promise.all(FOLDERS.map((f) => loadFolder(f)));
}

export async function fetchConversation(id) {
  if (state.conversations.has(id)) return state.conversations.get(id);
  const conv = await get(`/conversations/${encodeURIComponent(id)}`);
  return putConversation(conv);
}

/** A profile by username, cached; `online` comes and goes with presence events. */
export async function profile(username, fresh = false) {
  if (!fresh && state.users.get(username)) return state.users.get(username);
  const user = await get(`/users/${encodeURIComponent(username)}`);
  state.users.set(username, user);
  if (user.online !== undefined) {
    state.presence.set(user.id, { online: user.online, last_seen_at: user.last_seen_at });
    emit('presence', user.id);
  }
  return user;
}

/** Whether a conversation is muted now. */
export function isMuted(conv) {
  return Boolean(conv?.muted_until && Date.parse(conv.muted_until) > Date.now());
}

/** Unread conversations per folder, for the folder badges. */
export function unreadIn(folder) {
  return [...state.conversations.values()].filter((c) => c.folder === folder && c.unread_count > 0).length;
}

/** Total unread messages of the inbox (the tab title's count). */
export function totalUnread() {
  let total = 0;
  for (const c of state.conversations.values()) if (c.folder === 'inbox' && !isMuted(c)) total += c.unread_count;
  return total;
}

/** Users typing in a conversation now. */
export function typingIn(id) {
  const now = Date.now();
  const map = state.typing.get(id);
  if (!map) return [];
  return [...map.entries()].filter(([, until]) => until > now).map(([user]) => user);
}

/** Whether the person is looking at this conversation right now (so its messages are read). */
export function isReading(id) {
  return location.hash.startsWith(`#/c/${encodeURIComponent(id)}`) && document.visibilityState === 'visible';
}

/**
 * A new message of a conversation, from its event or from the answer to one's own send
 * (whichever comes first): the list's preview and time, and the unread count (one's own
 * message means everything before it was read). Returns whether it was new.
 */
export function noteMessage(conv, message) {
  if (message.seq <= (conv.last_seq || 0)) return false;
  conv.last_seq = message.seq;
  conv.last_message = message;
  conv.updated_at = message.created_at;
  if (message.sender?.id === state.me?.id) {
    conv.unread_count = 0;
    conv.last_read_seq = message.seq;
  } else {
    // Unread until the open thread, if the person is looking at its end, says it was read.
    conv.unread_count += 1;
  }
  return true;
}
