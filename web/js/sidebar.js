// The conversation list: folders with badges, the live list (pinned first), the search
// box over messages and people, and "New group".

import { get, post, qs } from './api.js';
import { announce, avatar, debounce, focusKey, h, icon, markedText, modal, mount, restoreFocus, splitPeople } from './dom.js';
import { errorText, formatListTime, t } from './i18n.js';
import {
  FOLDERS, conversationName, conversationsIn, isMuted, loadFolder, on, otherMember, putConversation, state, unreadIn,
} from './state.js';

let folder = 'inbox';

export function renderSidebar(root) {
  const offs = [];
  const search = h('input', {
    type: 'search',
    id: 'search',
    'aria-label': t('search.label'),
    placeholder: t('search.placeholder'),
    autocomplete: 'off',
    maxlength: 256,
  });
  const folderNav = h('div', { class: 'folders', role: 'group', 'aria-label': t('folders.label') });
  const list = h('ul', { class: 'conv-list', 'aria-label': t('folders.listLabel') });
  const more = h('button', { type: 'button', class: 'link more', hidden: true, onclick: () => loadFolder(folder, true) }, t('list.more'));
  const results = h('div', { class: 'search-results', hidden: true, 'aria-live': 'polite' });
  const listBox = h('div', { class: 'list-box' }, folderNav, list, more);

  function drawFolders() {
    const focus = focusKey(folderNav);
    mount(folderNav, FOLDERS.map((f) => {
      const count = unreadIn(f);
      return h('button', {
        type: 'button',
        id: `folder-${f}`,
        class: 'folder',
        'aria-pressed': String(f === folder),
        onclick: () => { folder = f; drawFolders(); drawList(); },
      }, t(`folders.${f}`), count ? h('span', { class: 'badge', 'aria-label': t('list.unreadConversations', { n: count }) }, String(count)) : null);
    }));
    restoreFocus(folderNav, focus);
  }

  // Many events in a row (a page of presence answers, a burst of messages) redraw once.
  let pending = 0;
  function redraw() {
    if (pending) return;
    pending = requestAnimationFrame(() => { pending = 0; drawFolders(); drawList(); });
  }

  function drawList() {
    const focus = focusKey(list);
    const convs = conversationsIn(folder);
    const current = location.hash.match(/^#\/c\/([^/]+)/)?.[1];
    mount(list, convs.length ? convs.map((c) => item(c, current === encodeURIComponent(c.id))) : h('li', { class: 'empty' }, t(`folders.empty.${folder}`)));
    more.hidden = !state.loadedFolders.get(folder)?.nextCursor;
    restoreFocus(list, focus);
  }

  const runSearch = debounce(async () => {
    const q = search.value.trim();
    if (!q) {
      results.hidden = true;
      listBox.hidden = false;
      return;
    }
    results.hidden = false;
    listBox.hidden = true;
    mount(results, h('p', { class: 'muted' }, t('search.searching')));
    try {
      const [people, messages] = await Promise.all([
        get(`/users${qs({ q })}`).catch(() => ({ users: [] })),
        get(`/search/messages${qs({ q })}`).catch((err) => (err.code === 'invalid_query' ? { results: [] } : Promise.reject(err))),
      ]);
      if (search.value.trim() !== q) return;
      const hits = h('ul', { class: 'result-list' });
      const moreHits = h('button', { type: 'button', class: 'link more', hidden: true }, t('list.more'));
      // Further pages of results, on demand (the server gives `next_cursor` while more follow).
      const showHits = (page) => {
        hits.append(...page.results.map(hit));
        moreHits.hidden = !page.next_cursor;
        moreHits.onclick = async () => {
          try { showHits(await get(`/search/messages${qs({ q, cursor: page.next_cursor })}`)); } catch (err) { announce(errorText(err)); }
        };
      };
      mount(results,
        h('h2', { class: 'section' }, t('search.people')),
        people.users.length
          ? h('ul', { class: 'result-list' }, people.users.map((u) => h('li', {},
            h('a', { href: `#/u/${encodeURIComponent(u.username)}`, class: 'result' }, avatar(u, 'sm'),
              h('span', {}, h('strong', {}, u.display_name), ' ', h('span', { class: 'muted' }, `@${u.username}`))))))
          : h('p', { class: 'muted' }, t('search.noPeople')),
        h('h2', { class: 'section' }, t('search.messages')),
        messages.results.length ? hits : h('p', { class: 'muted' }, t('search.noMessages')),
        moreHits);
      showHits(messages);
    } catch (err) {
      mount(results, h('p', { class: 'error', role: 'alert' }, errorText(err)));
    }
  }, 250);
  search.addEventListener('input', runSearch);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { search.value = ''; runSearch(); }
    if (e.key === 'Enter') { e.preventDefault(); runSearch(); }
  });
  // Opening a result keeps the results, so the next one is one click away; clearing the
  // box brings the list back.

  mount(root,
    h('div', { class: 'side-head' },
      h('div', { class: 'search-box' }, search),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': t('group.new'), title: t('group.new'), onclick: newGroup }, icon('plus'))),
    results,
    listBox);
  drawFolders();
  drawList();
  offs.push(on('conversations', redraw));
  offs.push(on('presence', redraw));
  offs.push(on('route', redraw));
  return () => { offs.forEach((off) => off()); cancelAnimationFrame(pending); };
}

/** One search result: who, where, when, and the text with the matches marked; opens the thread there. */
function hit(r) {
  const conv = state.conversations.get(r.message.conversation_id);
  return h('li', {},
    h('a', { href: `#/c/${encodeURIComponent(r.message.conversation_id)}/${r.message.seq}`, class: 'result message-result' },
      h('span', { class: 'result-head' },
        h('strong', {}, r.message.sender?.display_name || ''),
        conv ? h('span', { class: 'muted' }, ` · ${conversationName(conv)}`) : null,
        h('time', { datetime: r.message.created_at, class: 'muted' }, formatListTime(r.message.created_at))),
      h('span', { class: 'highlight' }, markedText(r.highlight))));
}

function item(conv, current) {
  const name = conversationName(conv);
  const other = otherMember(conv);
  const online = other && state.presence.get(other.id)?.online;
  const last = conv.last_message;
  const descId = `conv-desc-${conv.id}`;
  let preview = '';
  if (last) {
    const who = last.sender?.id === state.me.id ? `${t('chat.you')}: ` : (conv.kind === 'group' && last.sender ? `${last.sender.display_name}: ` : '');
    let body = last.text || '';
    if (last.deleted) body = t('msg.deleted');
    else if (!body && last.attachments?.length) body = `📎 ${last.attachments[0].name}`;
    else if (!body && last.location) body = `📍 ${last.location.label || t('msg.location')}`;
    preview = who + body;
  }
  const unread = conv.unread_count > 0;
  // The link's name is the conversation's name and nothing else (what a screen reader user
  // asks for, and what one sees); the preview, unread count and presence are its
  // description. The link covers the whole row (CSS), so a click anywhere opens it.
  return h('li', { class: `conv${unread ? ' unread' : ''}${current ? ' current' : ''}`, dataset: { id: conv.id } },
    h('span', { class: 'avatar-wrap' }, avatar(conv.kind === 'group' ? { id: conv.id, display_name: name } : other, 'md'),
      online ? h('span', { class: 'dot', title: t('presence.online') }) : null),
    h('span', { class: 'conv-body' },
      h('span', { class: 'conv-top' },
        h('a', {
          href: `#/c/${encodeURIComponent(conv.id)}`,
          id: `conv-${conv.id}`,
          class: 'conv-name',
          'aria-describedby': descId,
          'aria-current': current ? 'page' : null,
        }, name),
        last ? h('time', { datetime: last.created_at, 'aria-hidden': 'true' }, formatListTime(last.created_at)) : null),
      h('span', { class: 'conv-bottom', 'aria-hidden': 'true' },
        h('span', { class: 'preview', id: descId },
          preview,
          unread ? h('span', { class: 'visually-hidden' }, `, ${t('list.unread', { n: conv.unread_count })}`) : null,
          online ? h('span', { class: 'visually-hidden' }, `, ${t('presence.online')}`) : null,
          conv.pinned ? h('span', { class: 'visually-hidden' }, `, ${t('conv.pinned')}`) : null,
          isMuted(conv) ? h('span', { class: 'visually-hidden' }, `, ${t('conv.muted')}`) : null),
        conv.pinned ? h('span', { class: 'flag', title: t('conv.pinned'), 'aria-hidden': 'true' }, '📌') : null,
        isMuted(conv) ? h('span', { class: 'flag', title: t('conv.muted'), 'aria-hidden': 'true' }, '🔕') : null,
        unread ? h('span', { class: 'badge' }, String(conv.unread_count)) : null)));
}

/** "New group": a name and members by username. */
async function newGroup() {
  const result = await modal(t('group.new'), (close) => {
    const name = h('input', { id: 'group-name', required: true, maxlength: 100 });
    const members = h('input', { id: 'group-members', placeholder: 'ana, bob', autocapitalize: 'none' });
    const error = h('p', { class: 'error', role: 'alert' });
    return h('form', {
      method: 'dialog',
      onsubmit: async (e) => {
        e.preventDefault();
        const { usernames, addresses } = splitPeople(members.value);
        if (!name.value.trim()) { error.textContent = t('group.nameNeeded'); name.focus(); return; }
        try {
          const conv = await post('/conversations', { kind: 'group', name: name.value.trim(), members: usernames, addresses });
          close(conv);
        } catch (err) {
          error.textContent = errorText(err);
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'group-name' }, t('group.name')), name),
    h('div', { class: 'field' }, h('label', { for: 'group-members' }, t('group.members')), members,
      h('p', { class: 'hint' }, t('group.membersHint'))),
    error,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => close() }, t('common.cancel')),
      h('button', { type: 'submit', class: 'primary' }, t('group.create'))));
  });
  if (result) {
    putConversation(result);
    location.hash = `#/c/${encodeURIComponent(result.id)}`;
  }
}
