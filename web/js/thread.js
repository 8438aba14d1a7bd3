// A conversation: its history (scrolling back loads older pages; a search result opens
// it at that message), live updates, receipts, typing, the message actions and the
// conversation's details (members, notifications, folder, block and report).
//
// Sending: a message shows at once as "sending" under a fresh client_txn_id; the answer
// (or its message.created event, whichever comes first) replaces it. A failed send stays
// as "failed" with a Retry that sends again under the same client_txn_id, so the server
// keeps one copy however often it is retried.

import { ApiError, blobUrl, del, download, get, patch, post, put, qs } from './api.js';
import { announce, avatar, focusKey, formatSize, h, icon, modal, mount, randomId, restoreFocus, splitPeople } from './dom.js';
import { errorText, formatDateTime, formatDay, formatTime, formatLastSeen, dayKey, lang, t } from './i18n.js';
import {
  conversationName, conversationsIn, emit, fetchConversation, isMuted, isReading, memberById, noteMessage, on, otherMember,
  putConversation, dropConversation, state, typingIn,
} from './state.js';
import { renderComposer, pickEmoji, showMenu } from './composer.js';
import { confirmDialog, reasonDialog } from './dialogs.js';
import { updateTitle } from './notify.js';

const PAGE = 50;
const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
export const FOREVER = '9999-12-31T00:00:00Z';
/** The server's notices account (login alerts), which nobody can answer. */
const NOTICES = 'hilo-security';

class Thread {
  constructor(id) {
    this.id = id;
    this.messages = new Map(); // id -> message
    this.pending = new Map(); // client_txn_id -> local message
    this.hasMoreBefore = false;
    this.hasMoreAfter = false;
    this.receipts = new Map(); // user id -> { delivered_seq, last_read_seq }
    this.loaded = false;
  }

  ordered() {
    const sent = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    const waiting = [...this.pending.values()].sort((a, b) => a.localOrder - b.localOrder);
    return sent.concat(waiting);
  }

  add(message) {
    this.messages.set(message.id, message);
    if (message.client_txn_id) this.pending.delete(message.client_txn_id);
  }

  firstSeq() {
    let min = Infinity;
    for (const m of this.messages.values()) min = Math.min(min, m.seq);
    return min === Infinity ? null : min;
  }

  lastSeq() {
    let max = 0;
    for (const m of this.messages.values()) max = Math.max(max, m.seq);
    return max;
  }
}

function threadOf(id) {
  if (!state.threads.has(id)) state.threads.set(id, new Thread(id));
  return state.threads.get(id);
}

/** Applies a stream event to a thread the client holds (main.js calls it for every message event). */
export function applyEvent(event) {
  const thread = state.threads.get(event.conversation_id);
  if (!thread) return;
  switch (event.type) {
    case 'message.created':
      if (thread.hasMoreAfter) return; // not looking at the end: it is loaded when scrolled to
      thread.add(event.message);
      if (event.message.sender?.id !== state.me.id) {
        if (isReading(thread.id)) announce(t('msg.newFrom', { name: event.message.sender?.display_name || '', text: event.message.text || '' }));
        // Their message ends their typing.
        state.typing.get(thread.id)?.delete(event.message.sender?.id);
      }
      break;
    case 'message.updated':
      if (thread.messages.has(event.message.id)) thread.messages.set(event.message.id, event.message);
      for (const m of thread.messages.values()) {
        if (m.reply_to?.id === event.message.id) {
          m.reply_to = { ...m.reply_to, deleted: event.message.deleted, excerpt: event.message.deleted ? null : excerptOf(event.message.text) };
        }
      }
      break;
    case 'message.hidden':
      thread.messages.delete(event.message_id);
      break;
    case 'read':
    case 'delivered': {
      if (event.user_id === state.me.id) break;
      const r = thread.receipts.get(event.user_id) || { delivered_seq: 0, last_read_seq: null };
      if (event.type === 'read') {
        r.last_read_seq = Math.max(r.last_read_seq || 0, event.seq);
        r.delivered_seq = Math.max(r.delivered_seq || 0, event.seq);
      } else {
        r.delivered_seq = Math.max(r.delivered_seq || 0, event.seq);
      }
      thread.receipts.set(event.user_id, r);
      break;
    }
    default:
      return;
  }
  emit(`thread:${thread.id}`, event);
}

function excerptOf(text) {
  const flat = String(text || '').trim().replace(/\s+/g, ' ');
  return flat.length > 100 ? `${flat.slice(0, 100)}…` : flat;
}

let localOrder = 0;

export function renderThread(root, id, jumpSeq) {
  const offs = [];
  let conv = state.conversations.get(id);
  const thread = threadOf(id);
  const log = h('div', { class: 'messages', role: 'log', 'aria-label': t('chat.messages'), tabindex: '0', 'aria-live': 'off' });
  const typingLine = h('div', { class: 'typing', 'aria-live': 'polite' });
  const banner = h('div', { class: 'banner-slot' });
  const head = h('header', { class: 'thread-head' });
  const details = h('aside', { class: 'details', hidden: true, 'aria-label': t('details.title') });
  const composerSlot = h('div', { class: 'composer-slot' });
  let loadingOlder = false;
  let loadingNewer = false;
  let stickToBottom = true;
  const elements = new Map(); // message key -> { key, el }
  let composer = null;
  let disposed = false;
  let namesSeen = state.namesVersion;
  let detailsShown = '';

  mount(root, h('section', { class: 'thread', 'aria-label': t('chat.loading') },
    h('div', { class: 'thread-main' }, head, banner, log, typingLine, composerSlot),
    details));
  const section = root.firstChild;

  // ---- loading ---------------------------------------------------------------------
  async function start() {
    try {
      conv = await fetchConversation(id);
    } catch (err) {
      if (disposed) return;
      mount(root, h('div', { class: 'empty-main' }, h('p', { class: 'error', role: 'alert' }, errorText(err)), h('a', { href: '#/' }, t('nav.back'))));
      return;
    }
    if (disposed) return;
    section.setAttribute('aria-label', conversationName(conv));
    state.viewTitle = conversationName(conv);
    updateTitle();
    drawHead();
    drawBanner();
    if (otherMember(conv)?.username === NOTICES) {
      // The server's notices (login alerts) cannot be answered (docs/api.md).
      mount(composerSlot, h('p', { class: 'read-only' }, t('error.read_only')));
    } else {
      composer = renderComposer({ conv: () => conv, send, edit, uploadTarget: section });
      mount(composerSlot, composer.el);
    }
    try {
      if (jumpSeq) await loadAround(jumpSeq);
      else if (!thread.loaded || thread.hasMoreAfter) await loadLatest();
      loadReceipts();
    } catch (err) {
      mount(log, h('p', { class: 'error', role: 'alert' }, errorText(err)));
      return;
    }
    if (disposed) return;
    draw();
    if (jumpSeq) focusSeq(jumpSeq);
    else scrollToBottom();
    markRead();
    // On a desktop, ready to type, unless the person started typing elsewhere (the search
    // box, say) while the thread loaded.
    const active = document.activeElement;
    const typingElsewhere = active && !root.contains(active) && active.matches('input, textarea, select');
    if (!jumpSeq && composer && !typingElsewhere && window.matchMedia('(min-width: 760px)').matches) composer.focus();
  }

  async function loadLatest() {
    const data = await get(`/conversations/${encodeURIComponent(id)}/messages${qs({ limit: PAGE })}`);
    // Messages whose events arrived while the page was on its way are newer than it: kept.
    const newest = data.messages.length ? data.messages[data.messages.length - 1].seq : 0;
    const newer = [...thread.messages.values()].filter((m) => m.seq > newest);
    thread.messages.clear();
    data.messages.forEach((m) => thread.add(m));
    newer.forEach((m) => thread.add(m));
    thread.hasMoreBefore = data.has_more;
    thread.hasMoreAfter = false;
    thread.loaded = true;
  }

  async function loadAround(seq) {
    const data = await get(`/conversations/${encodeURIComponent(id)}/messages${qs({ before: seq + Math.floor(PAGE / 2) + 1, limit: PAGE })}`);
    thread.messages.clear();
    data.messages.forEach((m) => thread.add(m));
    thread.hasMoreBefore = data.has_more;
    thread.hasMoreAfter = thread.lastSeq() < (conv.last_seq || 0);
    thread.loaded = true;
  }

  async function loadOlder() {
    const first = thread.firstSeq();
    if (loadingOlder || !thread.hasMoreBefore || !first) return;
    loadingOlder = true;
    const before = log.scrollHeight - log.scrollTop;
    try {
      const data = await get(`/conversations/${encodeURIComponent(id)}/messages${qs({ before: first, limit: PAGE })}`);
      data.messages.forEach((m) => thread.add(m));
      thread.hasMoreBefore = data.has_more;
      draw();
      log.scrollTop = log.scrollHeight - before;
    } catch (err) {
      announce(errorText(err));
    } finally {
      loadingOlder = false;
    }
  }

  async function loadNewer() {
    if (loadingNewer || !thread.hasMoreAfter) return;
    loadingNewer = true;
    try {
      const data = await get(`/conversations/${encodeURIComponent(id)}/messages${qs({ after: thread.lastSeq(), limit: PAGE })}`);
      data.messages.forEach((m) => thread.add(m));
      thread.hasMoreAfter = data.has_more;
      if (!thread.hasMoreAfter) {
        // Messages whose events came while this page was on its way were not kept (the
        // thread was not at its end then): read once more from here.
        const rest = await get(`/conversations/${encodeURIComponent(id)}/messages${qs({ after: thread.lastSeq(), limit: PAGE })}`);
        rest.messages.forEach((m) => thread.add(m));
        thread.hasMoreAfter = rest.has_more;
      }
      draw();
      markRead();
    } catch (err) {
      announce(errorText(err));
    } finally {
      loadingNewer = false;
    }
  }

  async function loadReceipts() {
    try {
      const data = await get(`/conversations/${encodeURIComponent(id)}/receipts`);
      thread.receipts.clear();
      for (const r of data.receipts) thread.receipts.set(r.user_id, { delivered_seq: r.delivered_seq, last_read_seq: r.last_read_seq });
      draw();
    } catch { /* receipts are decoration */ }
  }

  log.addEventListener('scroll', () => {
    stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (log.scrollTop < 300) loadOlder();
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 300) loadNewer();
    if (stickToBottom) markRead();
  });

  function scrollToBottom() {
    log.scrollTop = log.scrollHeight;
    stickToBottom = true;
  }

  function focusSeq(seq) {
    const el = log.querySelector(`[data-seq="${seq}"]`);
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('flash');
    el.focus({ preventScroll: true });
    setTimeout(() => el.classList.remove('flash'), 2500);
  }

  /** Tells the server how far the person has read (only while they are looking). */
  async function markRead() {
    if (!conv || !isReading(id) || thread.hasMoreAfter) return;
    const last = thread.lastSeq();
    if (!last || last <= (conv.last_read_seq || 0)) {
      if (conv.unread_count) { conv.unread_count = 0; putConversation(conv); }
      return;
    }
    conv.last_read_seq = last;
    conv.unread_count = 0;
    putConversation(conv);
    try {
      await post(`/conversations/${encodeURIComponent(id)}/read`, { seq: last });
    } catch { /* the next look retries */ }
  }

  // ---- drawing -----------------------------------------------------------------------
  function drawHead() {
    const other = otherMember(conv);
    let sub = '';
    if (conv.kind === 'group') {
      sub = t('group.memberCount', { n: conv.members.length });
    } else if (other?.kind === 'contact') {
      sub = other.address || '';
    } else if (other) {
      const p = state.presence.get(other.id);
      sub = p?.online ? t('presence.online') : (p?.last_seen_at ? formatLastSeen(p.last_seen_at) : `@${other.username || ''}`);
    }
    const toggle = h('button', {
      type: 'button',
      id: 'details-toggle',
      class: 'icon-button',
      'aria-expanded': String(!details.hidden),
      'aria-controls': 'thread-details',
      onclick: () => { details.hidden = !details.hidden; toggle.setAttribute('aria-expanded', String(!details.hidden)); if (!details.hidden) drawDetails(); },
    }, icon('info'), h('span', { class: 'visually-hidden' }, t('details.title')));
    const focus = focusKey(head);
    mount(head,
      h('a', { href: '#/', id: 'thread-back', class: 'back icon-button', 'aria-label': t('nav.back') }, icon('back')),
      h('span', { class: 'avatar-wrap' }, avatar(conv.kind === 'group' ? { id: conv.id, display_name: conversationName(conv) } : other, 'md'),
        other && state.presence.get(other.id)?.online ? h('span', { class: 'dot' }) : null),
      h('div', { class: 'thread-title' },
        h('h1', {}, conversationName(conv)),
        h('p', { class: 'muted' }, sub)),
      toggle);
    details.id = 'thread-details';
    restoreFocus(head, focus);
  }

  function drawBanner() {
    if (conv.folder !== 'requests' && conv.folder !== 'spam') { mount(banner); return; }
    const focus = focusKey(banner);
    const other = otherMember(conv);
    const who = conv.kind === 'group' ? conversationName(conv) : (other?.display_name || '');
    const act = (fn) => async () => {
      try { await fn(); } catch (err) { announce(errorText(err)); }
    };
    mount(banner, h('div', { class: 'request-banner', role: 'region', 'aria-label': t('request.title') },
      h('p', {}, t(conv.folder === 'spam' ? 'request.spamText' : 'request.text', { name: who })),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: act(async () => { putConversation(await post(`/conversations/${encodeURIComponent(id)}/accept`)); announce(t('request.accepted')); }) }, t('request.accept')),
        h('button', { type: 'button', onclick: act(async () => { await post(`/conversations/${encodeURIComponent(id)}/decline`); dropConversation(id); location.hash = '#/'; }) }, t('request.decline')),
        conv.folder === 'spam'
          ? h('button', { type: 'button', onclick: act(async () => putConversation(await post(`/conversations/${encodeURIComponent(id)}/not_spam`))) }, t('request.notSpam'))
          : h('button', { type: 'button', onclick: act(async () => putConversation(await post(`/conversations/${encodeURIComponent(id)}/spam`))) }, t('request.spam')),
        // A person by username; a contact by address (its mail is then dropped).
        other?.username || other?.address ? h('button', { type: 'button', class: 'danger', onclick: act(async () => { await put(`/blocks/${encodeURIComponent(other.username || other.address)}`); await post(`/conversations/${encodeURIComponent(id)}/decline`).catch(() => {}); dropConversation(id); location.hash = '#/'; }) }, t('people.block')) : null)));
    restoreFocus(banner, focus);
  }

  function stateOf(message) {
    if (message.failed) return 'failed';
    if (message.pendingLocal) return 'sending';
    const others = conv.members.filter((m) => m.id !== state.me.id && m.kind !== 'contact');
    if (!others.length) return 'sent';
    const receipts = others.map((m) => thread.receipts.get(m.id) || { delivered_seq: 0, last_read_seq: null });
    if (receipts.every((r) => (r.last_read_seq || 0) >= message.seq)) return 'read';
    if (receipts.every((r) => (r.delivered_seq || 0) >= message.seq)) return 'delivered';
    return 'sent';
  }

  /** Who has read up to each message: the members whose last read is exactly there (as small avatars). */
  function readersAt() {
    const at = new Map();
    const seqs = [...thread.messages.values()].map((m) => m.seq).sort((a, b) => a - b);
    for (const [userId, r] of thread.receipts) {
      if (!r.last_read_seq) continue;
      let best = null;
      for (const s of seqs) if (s <= r.last_read_seq) best = s;
      if (best === null) continue;
      const member = memberById(conv, userId);
      if (!member) continue;
      if (!at.has(best)) at.set(best, []);
      at.get(best).push(member);
    }
    return at;
  }

  function draw() {
    if (!conv) return;
    if (namesSeen !== state.namesVersion) {
      // Someone's name changed: every message is drawn again with it.
      namesSeen = state.namesVersion;
      elements.clear();
    }
    const list = thread.ordered();
    const readers = readersAt();
    const children = [];
    if (thread.hasMoreBefore) children.push(h('div', { class: 'loading-more' }, t('chat.loadingOlder')));
    else if (list.length) children.push(h('div', { class: 'thread-start' }, t('chat.start')));
    else children.push(h('div', { class: 'thread-start' }, t('chat.empty')));
    let prev = null;
    const seen = new Set();
    for (const m of list) {
      const day = dayKey(m.created_at);
      if (!prev || dayKey(prev.created_at) !== day) {
        children.push(h('div', { class: 'day', role: 'separator' }, h('span', {}, formatDay(m.created_at))));
      }
      const grouped = prev && prev.sender?.id === m.sender?.id && dayKey(prev.created_at) === day
        && Date.parse(m.created_at) - Date.parse(prev.created_at) < 5 * 60_000 && m.channel !== 'system' && prev.channel !== 'system';
      const mine = m.sender?.id === state.me.id;
      const st = mine ? stateOf(m) : '';
      // Nobody is shown as having seen their own message.
      const readBy = (readers.get(m.seq) || []).filter((p) => p.id !== state.me.id && p.id !== m.sender?.id);
      const key = JSON.stringify([m.id, m.text, m.edited_at, m.deleted, m.reactions, m.reply_to, m.collapsed, st, grouped, readBy.map((p) => p.id), m.attachments?.length, m.failed, m.delivery, m.sms]);
      const elKey = m.id || m.client_txn_id;
      seen.add(elKey);
      let cached = elements.get(elKey);
      if (!cached || cached.key !== key) {
        cached = { key, el: renderMessage(m, { grouped, mine, state: st, readBy }) };
        elements.set(elKey, cached);
      }
      children.push(cached.el);
      prev = m;
    }
    for (const key of [...elements.keys()]) if (!seen.has(key)) elements.delete(key);
    if (thread.hasMoreAfter) children.push(h('div', { class: 'loading-more' }, t('chat.loadingNewer')));
    const wasBottom = stickToBottom;
    const focus = focusKey(log);
    log.replaceChildren(...children);
    restoreFocus(log, focus, log);
    if (wasBottom) scrollToBottom();
  }

  function drawTyping() {
    if (!conv) return;
    const names = typingIn(id).filter((u) => u !== state.me.id).map((u) => memberById(conv, u)?.display_name).filter(Boolean);
    const text = names.length === 0 ? '' : names.length === 1 ? t('chat.typingOne', { name: names[0] }) : t('chat.typingMany', { names: names.join(', ') });
    // Written only when it changes: it is a live region.
    if (typingLine.textContent !== text) typingLine.textContent = text;
  }

  // ---- one message -------------------------------------------------------------------
  function renderMessage(m, { grouped, mine, state: st, readBy }) {
    if (m.channel === 'system') {
      return h('article', { class: 'msg system', dataset: { id: m.id, seq: m.seq }, tabindex: '-1', 'aria-label': `${t('channel.system')}: ${m.text || ''}` },
        h('p', {}, renderText(m)),
        h('footer', { class: 'meta' }, channelBadge(m), h('time', { datetime: m.created_at }, formatTime(m.created_at))));
    }
    const sender = m.sender || {};
    const senderName = sender.display_name || t('msg.someone');
    const classes = ['msg', mine ? 'mine' : 'theirs', grouped ? 'grouped' : 'first'];
    if (m.deleted) classes.push('deleted');
    if (st) classes.push(`state-${st}`);
    const bubble = h('div', { class: 'bubble' });
    const parts = [];
    if (m.forwarded) parts.push(h('p', { class: 'forwarded' }, `↪ ${t('msg.forwarded')}`));
    if (m.email?.subject && !m.deleted) parts.push(h('p', { class: 'subject' }, t('msg.subject', { subject: m.email.subject })));
    if (m.reply_to) {
      const quoted = memberById(conv, m.reply_to.sender_id);
      parts.push(h('button', {
        type: 'button',
        class: 'quote',
        'aria-label': t('msg.quoteLabel', { name: quoted?.display_name || '', text: m.reply_to.excerpt || t('msg.deleted') }),
        onclick: () => jumpTo(m.reply_to.seq),
      }, h('strong', {}, quoted?.display_name || ''), h('span', {}, m.reply_to.deleted ? t('msg.deleted') : m.reply_to.excerpt)));
    }
    if (m.deleted) {
      parts.push(h('p', { class: 'text muted' }, t('msg.deleted')));
    } else if (m.collapsed) {
      const body = h('div', { hidden: true }, renderBody(m));
      parts.push(h('button', { type: 'button', class: 'link', onclick: (e) => { body.hidden = false; e.target.remove(); } }, t('msg.collapsed')), body);
    } else {
      parts.push(renderBody(m));
    }
    const meta = h('footer', { class: 'meta' },
      channelBadge(m),
      m.delivery && !m.deleted ? h('span', { class: `delivery delivery-${m.delivery.state}`, title: m.delivery.detail || '' }, t(`${texted(conv, m) ? 'smsDelivery' : 'delivery'}.${m.delivery.state}`)) : null,
      m.sms && !m.deleted ? h('span', { class: 'sms-parts', title: t(`sms.encoding.${m.sms.encoding}`) }, m.sms.segments === 1 ? t('sms.onePart') : t('sms.parts', { n: m.sms.segments })) : null,
      m.created_at ? h('time', { datetime: m.created_at, title: formatDateTime(m.created_at) }, formatTime(m.created_at)) : null,
      m.edited_at && !m.deleted ? h('span', { class: 'edited' }, t('msg.edited')) : null,
      st ? h('span', { class: `state state-${st}`, title: t(`state.${st}`) }, h('span', { 'aria-hidden': 'true' }, { sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠' }[st]), h('span', { class: 'visually-hidden' }, t(`state.${st}`))) : null);
    mount(bubble, parts, meta);
    if (m.delivery?.state === 'failed' && m.delivery.detail && !m.deleted) {
      bubble.append(h('div', { class: 'failed-row' }, h('span', { class: 'error' }, t('delivery.failedBecause', { detail: m.delivery.detail }))));
    }
    if (st === 'failed') {
      bubble.append(h('div', { class: 'failed-row' },
        h('span', { class: 'error' }, m.error || t('state.failed')),
        h('button', { type: 'button', onclick: () => retry(m.client_txn_id) }, t('msg.retry')),
        h('button', { type: 'button', class: 'link', onclick: () => { thread.pending.delete(m.client_txn_id); draw(); } }, t('msg.discard'))));
    }
    const reactions = !m.deleted && m.reactions?.length
      ? h('div', { class: 'reactions' }, m.reactions.map((r) => {
        const minePressed = r.user_ids.includes(state.me.id);
        const names = r.user_ids.map((u) => memberById(conv, u)?.display_name || '').filter(Boolean).join(', ');
        return h('button', {
          type: 'button',
          class: 'reaction',
          'data-focus': `reaction:${r.emoji}`,
          'aria-pressed': String(minePressed),
          'aria-label': t('msg.reactionLabel', { emoji: r.emoji, n: r.count, names }),
          title: names,
          onclick: () => react(m, r.emoji, !minePressed),
        }, `${r.emoji} ${r.count}`);
      }))
      : null;
    const actions = m.pendingLocal || m.deleted ? null : h('div', { class: 'actions-bar', role: 'toolbar', 'aria-label': t('msg.actions') },
      h('button', { type: 'button', 'aria-label': t('msg.react'), title: t('msg.react'), onclick: (e) => reactMenu(e.currentTarget, m) }, icon('smile')),
      h('button', { type: 'button', 'aria-label': t('msg.reply'), title: t('msg.reply'), onclick: () => composer?.startReply(m) }, icon('reply')),
      h('button', { type: 'button', 'aria-label': t('msg.more'), title: t('msg.more'), 'aria-haspopup': 'menu', onclick: (e) => moreMenu(e.currentTarget, m, mine) }, icon('more')));
    const readRow = readBy.length
      ? h('div', { class: 'read-by', 'aria-label': t('msg.readBy', { names: readBy.map((p) => p.display_name).join(', ') }), role: 'img' },
        readBy.map((p) => avatar(p, 'xs')))
      : null;
    return h('article', {
      class: classes.join(' '),
      // On a touch screen there is no hover: a tap on a message shows its actions.
      onclick: (e) => { if (!e.target.closest('button, a, video, audio')) e.currentTarget.classList.toggle('selected'); },
      dataset: { id: m.id || `txn-${m.client_txn_id}`, seq: m.seq ?? '' },
      tabindex: '-1',
      'aria-label': `${mine ? t('chat.you') : senderName}: ${m.deleted ? t('msg.deleted') : (m.text || (m.attachments?.length ? m.attachments.map((a) => a.name).join(', ') : ''))}`,
    },
    !mine && !grouped && conv.kind === 'group' ? h('div', { class: 'sender' }, senderName) : null,
    h('div', { class: 'row' },
      !mine ? (grouped ? h('span', { class: 'avatar-space' }) : avatar(sender, 'sm')) : null,
      bubble,
      actions),
    reactions,
    readRow);
  }

  function renderBody(m) {
    const out = [];
    if (m.text) out.push(h('p', { class: 'text' }, renderText(m)));
    if (m.location) {
      const { lat, lon, label } = m.location;
      out.push(h('a', {
        class: 'location',
        href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`,
        target: '_blank',
        rel: 'noopener noreferrer',
      }, h('span', { 'aria-hidden': 'true' }, '📍 '), label || `${lat.toFixed(5)}, ${lon.toFixed(5)}`));
    }
    for (const a of m.attachments || []) out.push(renderAttachment(a));
    return out;
  }

  /** Text with its links (the server's entities, UTF-16 offsets as JS strings index) and @mentions. */
  function renderText(m) {
    const text = m.text || '';
    const out = [];
    let at = 0;
    const links = (m.entities || []).filter((e) => e.type === 'link').sort((a, b) => a.offset - b.offset);
    for (const link of links) {
      // The server only ever makes web and mail links; anything else stays text.
      if (link.offset < at || !/^(https?:|mailto:)/i.test(link.url)) continue;
      out.push(...mentions(text.slice(at, link.offset), m));
      out.push(h('a', { href: link.url, target: '_blank', rel: 'noopener noreferrer nofollow' }, text.slice(link.offset, link.offset + link.length)));
      at = link.offset + link.length;
    }
    out.push(...mentions(text.slice(at), m));
    return out;
  }

  function mentions(text, m) {
    if (!m.mentions?.length || !text.includes('@')) return [text];
    const out = [];
    let last = 0;
    for (const match of text.matchAll(/(^|[^\w.])@([a-z0-9._]{3,32})/gi)) {
      const member = conv.members.find((p) => p.username && p.username.toLowerCase() === match[2].toLowerCase());
      if (!member || !m.mentions.includes(member.id)) continue;
      const start = match.index + match[1].length;
      out.push(text.slice(last, start));
      out.push(h('span', { class: `mention${member.id === state.me.id ? ' mention-me' : ''}` }, `@${match[2]}`));
      last = start + match[2].length + 1;
    }
    out.push(text.slice(last));
    return out;
  }

  function renderAttachment(a) {
    const type = a.content_type || '';
    if (type.startsWith('image/')) {
      const img = h('img', { alt: a.name, width: a.width && Math.min(a.width, 240), height: a.width && a.height && Math.round(Math.min(a.width, 240) * (a.height / a.width)), loading: 'lazy' });
      blobUrl(a.thumbnail_url || a.url).then((src) => { img.src = src; }).catch(() => { img.alt = `${a.name} (${t('msg.unavailable')})`; });
      return h('button', { type: 'button', class: 'image', 'aria-label': t('msg.openImage', { name: a.name }), onclick: () => lightbox(a) }, img);
    }
    if (type.startsWith('video/') || type.startsWith('audio/')) {
      const media = h(type.startsWith('video/') ? 'video' : 'audio', { controls: true, preload: 'none', 'aria-label': a.name });
      blobUrl(a.url).then((src) => { media.src = src; }).catch(() => {});
      return h('div', { class: 'media' }, media, h('span', { class: 'muted small' }, a.name));
    }
    return h('div', { class: 'file-card' },
      h('span', { class: 'file-icon' }, icon('file')),
      h('span', { class: 'file-info' }, h('span', { class: 'file-name' }, a.name), h('span', { class: 'muted small' }, formatSize(a.size, lang()))),
      h('button', { type: 'button', onclick: () => download(a.url, a.name).catch((err) => announce(errorText(err))) }, t('msg.download')));
  }

  function lightbox(a) {
    modal(a.name, (close) => {
      const img = h('img', { alt: a.name, class: 'lightbox-img' });
      blobUrl(a.url).then((src) => { img.src = src; }).catch(() => {});
      return h('div', { class: 'lightbox' }, img,
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => download(a.url, a.name).catch(() => {}) }, t('msg.download')),
          h('button', { type: 'button', class: 'primary', onclick: () => close() }, t('common.close'))));
    });
  }

  async function jumpTo(seq) {
    if (!log.querySelector(`[data-seq="${seq}"]`)) {
      try { await loadAround(seq); draw(); } catch (err) { announce(errorText(err)); return; }
    }
    focusSeq(seq);
  }

  // ---- actions -----------------------------------------------------------------------
  async function react(m, emoji, add) {
    try {
      const path = `/messages/${encodeURIComponent(m.id)}/reactions/${encodeURIComponent(emoji)}`;
      const updated = add ? await put(path) : await del(path);
      if (updated) { thread.messages.set(updated.id, updated); draw(); }
    } catch (err) {
      announce(errorText(err));
    }
  }

  function reactMenu(anchor, m) {
    showMenu(anchor, [
      ...QUICK_REACTIONS.map((emoji) => ({ label: emoji, aria: t('msg.reactWith', { emoji }), run: () => react(m, emoji, true) })),
      { label: '…', aria: t('composer.moreEmoji'), run: async () => { const emoji = await pickEmoji(); if (emoji) react(m, emoji, true); } },
    ], { horizontal: true, label: t('msg.react') });
  }

  /**
   * A mail as it came: its headers, its HTML (made safe by the server) and its whole
   * text.
   */
  async function showOriginal(m) {
    let original;
    try {
      original = await get(`/messages/${encodeURIComponent(m.id)}/original`);
    } catch (err) {
      announce(errorText(err));
      return;
    }
    const email = original.email || {};
    const names = (list) => (list || []).map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');
    const rows = [
      [t('original.from'), email.from],
      [t('original.to'), names(email.to)],
      [t('original.cc'), names(email.cc)],
      [t('original.subject'), email.subject],
      [t('original.checks'), email.auth ? `SPF ${email.auth.spf} · DKIM ${email.auth.dkim} · DMARC ${email.auth.dmarc}` : ''],
    ].filter(([, value]) => value);
    // The server made the HTML safe (ammonia: no script, style, form or handler, no
    // picture from elsewhere); the page's own policy would refuse any of them anyway.
    const html = original.html ? h('div', { class: 'original-html', role: 'document', 'aria-label': t('original.html') }) : null;
    if (html) html.innerHTML = original.html;
    await modal(t('msg.original'), (close) => h('div', { class: 'original' },
      h('dl', {}, rows.flatMap(([label, value]) => [h('dt', {}, label), h('dd', {}, value)])),
      html,
      original.text ? h('details', { open: !original.html }, h('summary', {}, t('original.text')), h('pre', { class: 'original-text' }, original.text)) : null,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: () => close() }, t('common.close')))));
  }

  function moreMenu(anchor, m, mine) {
    const items = [];
    if (mine && m.text && !m.deleted) items.push({ label: t('msg.edit'), run: () => composer?.startEdit(m) });
    items.push({ label: t('msg.forward'), run: () => forward(m) });
    if (m.text) items.push({ label: t('msg.copy'), run: () => navigator.clipboard?.writeText(m.text).then(() => announce(t('msg.copied'))).catch(() => {}) });
    if (m.email && !m.deleted) items.push({ label: t('msg.original'), run: () => showOriginal(m) });
    items.push({ label: t('msg.deleteForMe'), run: () => remove(m, 'me') });
    if (mine) items.push({ label: t('msg.deleteForEveryone'), run: () => remove(m, 'everyone'), danger: true });
    if (!mine && m.sender?.kind !== 'contact') items.push({ label: t('msg.report'), run: () => report(m) });
    showMenu(anchor, items, { label: t('msg.more') });
  }

  async function remove(m, scope) {
    if (scope === 'everyone') {
      const ok = await confirmDialog(t('msg.deleteForEveryone'), t('msg.deleteEveryoneConfirm'), t('msg.delete'));
      if (!ok) return;
    }
    try {
      await del(`/messages/${encodeURIComponent(m.id)}?scope=${scope}`);
      if (scope === 'me') thread.messages.delete(m.id);
      else thread.messages.set(m.id, { ...m, deleted: true, text: null, attachments: [], reactions: [], location: null });
      draw();
      announce(t('msg.deletedDone'));
    } catch (err) {
      announce(errorText(err));
    }
  }

  async function forward(m) {
    const targets = conversationsIn('inbox').filter((c) => c.id !== id);
    const target = await modal(t('msg.forwardTo'), (close) => h('div', {},
      targets.length
        ? h('ul', { class: 'pick-list' }, targets.map((c) => h('li', {}, h('button', { type: 'button', onclick: () => close(c) }, avatar(c.kind === 'group' ? { id: c.id, display_name: conversationName(c) } : otherMember(c), 'sm'), conversationName(c)))))
        : h('p', { class: 'muted' }, t('msg.noTargets')),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close() }, t('common.cancel')))));
    if (!target) return;
    try {
      await post(`/messages/${encodeURIComponent(m.id)}/forward`, { conversation_id: target.id, client_txn_id: randomId() });
      announce(t('msg.forwarded'));
    } catch (err) {
      announce(errorText(err));
    }
  }

  async function report(m) {
    const reason = await reasonDialog(t('msg.report'));
    if (!reason) return;
    try {
      await post('/reports', { message_id: m.id, reason });
      announce(t('report.sent'));
    } catch (err) {
      announce(errorText(err));
    }
  }

  // ---- sending -----------------------------------------------------------------------
  async function send(body) {
    const txn = randomId();
    const local = {
      client_txn_id: txn,
      pendingLocal: true,
      localOrder: (localOrder += 1),
      sender: { id: state.me.id, username: state.me.username, display_name: state.me.display_name, kind: 'user' },
      channel: 'chat',
      text: body.text || null,
      attachments: body.attachments || [],
      location: body.location || null,
      reply_to: body.replyTo ? { id: body.replyTo.id, seq: body.replyTo.seq, sender_id: body.replyTo.sender?.id, excerpt: excerptOf(body.replyTo.text), deleted: false } : null,
      reactions: [],
      mentions: [],
      entities: [],
      created_at: new Date().toISOString(),
      request: {
        client_txn_id: txn,
        text: body.text || undefined,
        reply_to: body.replyTo?.id,
        attachment_ids: body.attachments?.length ? body.attachments.map((a) => a.id) : undefined,
        location: body.location || undefined,
      },
    };
    if (thread.hasMoreAfter) await loadLatest().catch(() => {});
    thread.pending.set(txn, local);
    stickToBottom = true;
    draw();
    await deliver(local);
  }

  async function deliver(local) {
    try {
      const message = await post(`/conversations/${encodeURIComponent(id)}/messages`, local.request);
      thread.add(message);
      if (noteMessage(conv, message)) putConversation(conv);
      draw();
    } catch (err) {
      // Only a refusal of this very message is final; the network or the server being away
      // leaves it to retry.
      local.failed = true;
      // Worth retrying by itself once the connection is back: the network or the server
      // being away, not a refusal of this very message.
      local.retryable = !(err instanceof ApiError) || err.status === 0 || err.status >= 500;
      local.error = err instanceof ApiError && err.status ? errorText(err) : t('state.failedOffline');
      draw();
      announce(t('state.failed'));
    }
  }

  function retry(txn) {
    const local = thread.pending.get(txn);
    if (!local) return;
    local.failed = false;
    local.error = null;
    draw();
    deliver(local);
  }

  async function edit(m, text) {
    try {
      const updated = await patch(`/messages/${encodeURIComponent(m.id)}`, { text });
      thread.messages.set(updated.id, updated);
      draw();
    } catch (err) {
      announce(errorText(err));
      throw err;
    }
  }

  // ---- details -----------------------------------------------------------------------
  function detailsKey() {
    return JSON.stringify([conv.name, conv.members.map((m) => [m.id, m.display_name]), conv.pinned, conv.folder, conv.muted_until, conv.notify, state.namesVersion]);
  }

  function drawDetails() {
    detailsShown = detailsKey();
    const cid = encodeURIComponent(id);
    const other = otherMember(conv);
    const act = (fn) => async (e) => {
      e?.preventDefault?.();
      try { await fn(); } catch (err) { announce(errorText(err)); }
    };
    const muteSelect = h('select', {
      id: 'mute',
      onchange: act(async () => {
        const hours = { '1h': 1, '8h': 8, '1w': 24 * 7 }[muteSelect.value];
        const until = muteSelect.value === 'off' ? null : muteSelect.value === 'forever' ? FOREVER : new Date(Date.now() + hours * 3600_000).toISOString();
        putConversation(await patch(`/conversations/${cid}/settings`, { muted_until: until }));
        announce(t(until ? 'conv.mutedDone' : 'conv.unmutedDone'));
      }),
    },
    h('option', { value: 'current', hidden: true }, isMuted(conv) ? muteLabel(conv.muted_until) : t('mute.off')),
    h('option', { value: 'off' }, t('mute.off')),
    h('option', { value: '1h' }, t('mute.1h')),
    h('option', { value: '8h' }, t('mute.8h')),
    h('option', { value: '1w' }, t('mute.1w')),
    h('option', { value: 'forever' }, t('mute.forever')));
    muteSelect.value = 'current';
    const notifySelect = h('select', {
      id: 'notify',
      onchange: act(async () => putConversation(await patch(`/conversations/${cid}/settings`, { notify: notifySelect.value }))),
    }, ['all', 'mentions', 'none'].map((n) => h('option', { value: n, selected: conv.notify === n }, t(`notify.${n}`))));
    const parts = [
      h('div', { class: 'details-head' }, h('h2', { tabindex: '-1' }, t('details.title')),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': t('common.close'), onclick: () => { details.hidden = true; drawHead(); head.querySelector('#details-toggle')?.focus(); } }, icon('close'))),
      h('section', {}, h('h3', {}, t('details.notifications')),
        h('div', { class: 'field' }, h('label', { for: 'mute' }, t('mute.label')), muteSelect),
        h('div', { class: 'field' }, h('label', { for: 'notify' }, t('notify.label')), notifySelect)),
      h('section', { class: 'stack' }, h('h3', {}, t('details.conversation')),
        h('button', { type: 'button', 'data-focus': 'pin', onclick: act(async () => putConversation(await patch(`/conversations/${cid}/settings`, { pinned: !conv.pinned }))) }, t(conv.pinned ? 'conv.unpin' : 'conv.pin')),
        conv.folder === 'archived'
          ? h('button', { type: 'button', 'data-focus': 'archive', onclick: act(async () => putConversation(await patch(`/conversations/${cid}/settings`, { folder: 'inbox' }))) }, t('conv.unarchive'))
          : h('button', { type: 'button', 'data-focus': 'archive', onclick: act(async () => putConversation(await patch(`/conversations/${cid}/settings`, { folder: 'archived' }))) }, t('conv.archive')),
        h('button', {
          type: 'button',
          class: 'danger',
          onclick: act(async () => {
            if (!await confirmDialog(t('conv.delete'), t('conv.deleteConfirm'), t('conv.delete'))) return;
            await del(`/conversations/${cid}`);
            dropConversation(id);
            location.hash = '#/';
          }),
        }, t('conv.delete'))),
    ];
    if (conv.kind === 'group') {
      const rename = h('input', { id: 'rename', value: conv.name || '', maxlength: 100 });
      const add = h('input', { id: 'add-members', placeholder: 'ana, bob', autocapitalize: 'none' });
      parts.push(h('section', {}, h('h3', {}, t('group.title')),
        h('form', { class: 'inline-form', onsubmit: act(async () => { putConversation(await patch(`/conversations/${cid}`, { name: rename.value.trim() })); announce(t('group.renamed')); }) },
          h('label', { for: 'rename' }, t('group.name')), rename, h('button', { type: 'submit' }, t('group.rename'))),
        // Members write to it by email from an address of theirs they verified.
        state.me.email_address ? h('p', { class: 'hint' }, t('group.address'), ' ', h('span', { class: 'group-address' }, `g-${conv.id}@${state.me.email_address.split('@')[1]}`)) : null,
        h('h3', {}, t('group.membersTitle', { n: conv.members.length })),
        h('ul', { class: 'member-list' }, conv.members.map((p) => h('li', {},
          avatar(p, 'sm'),
          h('span', { class: 'grow' }, p.display_name,
            p.username ? h('span', { class: 'muted' }, ` @${p.username}`) : null,
            !p.username && p.address && p.address !== p.display_name ? h('span', { class: 'muted' }, ` ${p.address}`) : null),
          p.id !== state.me.id && (p.username || p.address)
            ? h('button', { type: 'button', class: 'link', 'aria-label': t('group.removeMember', { name: p.display_name }), onclick: act(async () => { await del(`/conversations/${cid}/members/${encodeURIComponent(p.username || p.address)}`); putConversation(await get(`/conversations/${cid}`)); }) }, t('group.remove'))
            : null))),
        h('form', {
          class: 'inline-form',
          onsubmit: act(async () => {
            const { usernames, addresses } = splitPeople(add.value);
            if (!usernames.length && !addresses.length) return;
            const updated = await post(`/conversations/${cid}/members`, { usernames, addresses });
            add.value = '';
            putConversation(updated);
            announce(t('group.added'));
          }),
        }, h('label', { for: 'add-members' }, t('group.addMembers')), add, h('button', { type: 'submit' }, t('group.add'))),
        h('button', {
          type: 'button',
          class: 'danger',
          onclick: act(async () => {
            if (!await confirmDialog(t('group.leave'), t('group.leaveConfirm'), t('group.leave'))) return;
            await del(`/conversations/${cid}/members/${encodeURIComponent(state.me.username)}`);
            dropConversation(id);
            location.hash = '#/';
          }),
        }, t('group.leave'))));
    } else if (other?.username) {
      parts.push(h('section', { class: 'stack' }, h('h3', {}, other.display_name),
        h('a', { href: `#/u/${encodeURIComponent(other.username)}`, class: 'button' }, t('people.viewProfile')),
        h('button', { type: 'button', class: 'danger', onclick: act(async () => { await put(`/blocks/${encodeURIComponent(other.username)}`); announce(t('people.blocked', { name: other.display_name })); }) }, t('people.block')),
        h('button', { type: 'button', onclick: act(async () => { const reason = await reasonDialog(t('people.report')); if (reason) { await post('/reports', { username: other.username, reason }); announce(t('report.sent')); } }) }, t('people.report'))));
    } else if (other?.address) {
      parts.push(h('section', { class: 'stack' }, h('h3', {}, other.display_name),
        h('p', { class: 'muted' }, other.address),
        h('button', { type: 'button', class: 'danger', onclick: act(async () => { await put(`/blocks/${encodeURIComponent(other.address)}`); announce(t('people.blockedAddress', { address: other.address })); }) }, t('people.blockAddress'))));
    }
    const focus = focusKey(details);
    const typed = [...details.querySelectorAll('input[id]')].map((el) => [el.id, el.value]);
    mount(details, parts);
    for (const [fieldId, value] of typed) {
      const el = details.querySelector(`#${fieldId}`);
      if (el) el.value = value;
    }
    restoreFocus(details, focus, details.querySelector('h2'));
  }

  // ---- wiring ------------------------------------------------------------------------
  offs.push(on(`thread:${id}`, () => { draw(); if (stickToBottom) markRead(); }));
  offs.push(on(`typing:${id}`, drawTyping));
  offs.push(on(`conversation:${id}`, ({ conv: next }) => {
    if (!next) { location.hash = '#/'; return; }
    conv = next;
    section.setAttribute('aria-label', conversationName(conv));
    if (isReading(id)) { state.viewTitle = conversationName(conv); updateTitle(); }
    drawHead();
    drawBanner();
    // The details are drawn again only when something they show changed (not on every
    // message), so what is being typed there is left alone.
    if (!details.hidden && detailsKey() !== detailsShown) drawDetails();
  }));
  offs.push(on('presence', (userId) => { if (conv && otherMember(conv)?.id === userId) drawHead(); }));
  offs.push(on('resync', async () => {
    await loadLatest().catch(() => {});
    if (disposed) return;
    draw();
    loadReceipts();
  }));
  offs.push(on('reconnected', async () => {
    // Events replayed from the cursor already filled the gap; receipts are re-read, and
    // messages that failed while offline are sent again (same client_txn_id: never twice).
    loadReceipts();
    for (const local of thread.pending.values()) if (local.failed && local.retryable) retry(local.client_txn_id);
  }));
  const typingTimer = setInterval(drawTyping, 1000);
  const onVisible = () => { if (document.visibilityState === 'visible' && stickToBottom) markRead(); };
  document.addEventListener('visibilitychange', onVisible);
  start();
  return () => {
    disposed = true;
    offs.forEach((off) => off());
    document.querySelector('.menu')?.remove();
    clearInterval(typingTimer);
    document.removeEventListener('visibilitychange', onVisible);
    composer?.destroy();
  };
}

/** Where a message came from, when not chat: Email, SMS, Web, Notice. */
function channelBadge(m) {
  return m.channel && m.channel !== 'chat' ? h('span', { class: `channel channel-${m.channel}` }, t(`channel.${m.channel}`)) : null;
}

/** Whether a message goes by SMS: it went as a text, or its conversation has a phone contact. */
function texted(conv, m) {
  return Boolean(m.sms) || Boolean(conv?.members?.some((x) => x.kind === 'contact' && x.address?.startsWith('+')));
}

function muteLabel(until) {
  if (until >= '9000') return t('mute.forever');
  return t('mute.until', { time: formatTime(until, true) });
}
