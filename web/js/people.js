// People: search, friend requests, friends, blocks, and a person's profile with what one
// can do about them (message, befriend, accept, block, report).

import { del, get, post, put, qs } from './api.js';
import { announce, avatar, debounce, h, icon, mount } from './dom.js';
import { errorText, formatLastSeen, t } from './i18n.js';
import { on, putConversation, state } from './state.js';
import { confirmDialog, reasonDialog } from './dialogs.js';

async function openDirect(username) {
  await openWith({ with: username });
}

async function openWith(who) {
  const conv = await post('/conversations', { kind: 'direct', ...who });
  putConversation(conv);
  location.hash = `#/c/${encodeURIComponent(conv.id)}`;
}

/** The buttons for a person, by relationship; `done` redraws whatever shows them. */
function actionsFor(user, done, describedBy) {
  const u = encodeURIComponent(user.username);
  const act = (fn, message) => async () => {
    try {
      await fn();
      if (message) announce(message);
      state.users.delete(user.username);
      done();
    } catch (err) {
      announce(errorText(err));
    }
  };
  const buttons = [];
  const rel = user.relationship;
  if (rel === 'self') return [h('a', { href: '#/settings/profile', class: 'button' }, t('people.editProfile'))];
  if (rel !== 'blocked') buttons.push(h('button', { type: 'button', class: 'primary', onclick: act(() => openDirect(user.username)) }, t('people.message')));
  if (rel === 'none') buttons.push(h('button', { type: 'button', onclick: act(() => post('/friends', { username: user.username }), t('people.requestSent')) }, t('people.addFriend')));
  if (rel === 'request_received') {
    buttons.push(h('button', { type: 'button', onclick: act(() => post('/friends', { username: user.username }), t('people.nowFriends', { name: user.display_name })) }, t('people.accept')));
    buttons.push(h('button', { type: 'button', onclick: act(() => del(`/friends/${u}`)) }, t('people.decline')));
  }
  if (rel === 'request_sent') buttons.push(h('button', { type: 'button', onclick: act(() => del(`/friends/${u}`)) }, t('people.cancelRequest')));
  if (rel === 'friend') {
    buttons.push(h('button', {
      type: 'button',
      onclick: act(async () => { if (await confirmDialog(t('people.unfriend'), t('people.unfriendConfirm', { name: user.display_name }), t('people.unfriend'))) await del(`/friends/${u}`); }),
    }, t('people.unfriend')));
  }
  if (rel === 'blocked') buttons.push(h('button', { type: 'button', onclick: act(() => del(`/blocks/${u}`), t('people.unblocked', { name: user.display_name })) }, t('people.unblock')));
  else buttons.push(h('button', { type: 'button', class: 'danger', onclick: act(() => put(`/blocks/${u}`), t('people.blocked', { name: user.display_name })) }, t('people.block')));
  buttons.push(h('button', {
    type: 'button',
    onclick: act(async () => { const reason = await reasonDialog(t('people.report')); if (reason) { await post('/reports', { username: user.username, reason }); announce(t('report.sent')); } }),
  }, t('people.report')));
  // In a list, each button is described by its row's name ("Block, button, Dan").
  if (describedBy) buttons.forEach((b) => b.setAttribute('aria-describedby', describedBy));
  return buttons;
}

let rows = 0;

function personRow(user, done) {
  const nameId = `person-${rows += 1}`;
  return h('li', { class: 'person' },
    h('a', { href: `#/u/${encodeURIComponent(user.username)}`, class: 'person-link' }, avatar(user, 'md'),
      h('span', { id: nameId }, h('strong', {}, user.display_name), h('span', { class: 'muted' }, ` @${user.username}`))),
    h('div', { class: 'actions' }, actionsFor(user, done, nameId)));
}

export function renderPeople(root) {
  const offs = [];
  const query = h('input', { id: 'people-q', type: 'search', autocomplete: 'off', autocapitalize: 'none', maxlength: 64 });
  const results = h('div', { 'aria-live': 'polite' });
  const requests = h('div');
  const friends = h('div');
  const blocked = h('div');

  const search = debounce(async () => {
    const q = query.value.trim();
    if (!q) { mount(results); return; }
    try {
      const data = await get(`/users${qs({ q })}`);
      mount(results, data.users.length
        ? h('ul', { class: 'people-list' }, data.users.map((u) => personRow(u, () => { search(); load(); })))
        : h('p', { class: 'muted' }, t('search.noPeople')));
    } catch (err) {
      mount(results, h('p', { class: 'error', role: 'alert' }, errorText(err)));
    }
  }, 250);
  query.addEventListener('input', search);

  async function load() {
    try {
      const [reqs, fr, bl] = await Promise.all([get('/friends/requests'), get('/friends'), get('/blocks')]);
      const redraw = () => { load(); search(); };
      mount(requests,
        h('h2', {}, t('people.requests')),
        reqs.incoming.length || reqs.outgoing.length
          ? h('ul', { class: 'people-list' },
            reqs.incoming.map((r) => personRow(r.user, redraw)),
            reqs.outgoing.map((r) => personRow(r.user, redraw)))
          : h('p', { class: 'muted' }, t('people.noRequests')));
      mount(friends,
        h('h2', {}, t('people.friends', { n: fr.friends.length })),
        fr.friends.length ? h('ul', { class: 'people-list' }, fr.friends.map((f) => personRow(f.user, redraw))) : h('p', { class: 'muted' }, t('people.noFriends')));
      mount(blocked,
        h('h2', {}, t('people.blockedTitle')),
        bl.blocked.length ? h('ul', { class: 'people-list' }, bl.blocked.map((u) => personRow({ ...u, relationship: 'blocked' }, redraw))) : h('p', { class: 'muted' }, t('people.noBlocked')));
    } catch (err) {
      mount(requests, h('p', { class: 'error', role: 'alert' }, errorText(err)));
    }
  }

  // Someone who is not on this server: written to by email, or by SMS at a phone number.
  const address = h('input', { id: 'people-address', type: 'text', inputmode: 'email', autocomplete: 'email', autocapitalize: 'none', maxlength: 254, required: true });
  const addressError = h('p', { class: 'error', role: 'alert', hidden: true });
  const byEmail = h('form', {
    class: 'field inline-form',
    // The server's answer says what is wrong with an address, in the page's language.
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      addressError.hidden = true;
      try {
        await openWith({ with_address: address.value.trim() });
      } catch (err) {
        addressError.textContent = errorText(err);
        addressError.hidden = false;
      }
    },
  }, h('label', { for: 'people-address' }, t('people.byEmail')), address, h('button', { type: 'submit' }, t('people.write')), addressError);

  mount(root, h('div', { class: 'page' },
    h('header', { class: 'page-head' }, h('a', { href: '#/', class: 'back icon-button', 'aria-label': t('nav.back') }, icon('back')), h('h1', {}, t('nav.people'))),
    h('section', {}, h('div', { class: 'field' }, h('label', { for: 'people-q' }, t('people.find')), query), results),
    h('section', {}, byEmail),
    h('section', {}, requests),
    h('section', {}, friends),
    h('section', {}, blocked)));
  load();
  offs.push(on('friends', load));
  return () => offs.forEach((off) => off());
}

export function renderProfile(root, username) {
  const offs = [];
  let disposed = false;
  async function load() {
    try {
      const user = await get(`/users/${encodeURIComponent(username)}`);
      if (disposed) return;
      const presence = user.online ? t('presence.online') : (user.last_seen_at ? formatLastSeen(user.last_seen_at) : '');
      mount(root, h('div', { class: 'page profile' },
        h('header', { class: 'page-head' }, h('a', { href: '#/people', class: 'back icon-button', 'aria-label': t('nav.back') }, icon('back')), h('h1', {}, user.display_name)),
        h('div', { class: 'profile-card' },
          avatar(user, 'lg'),
          h('div', {},
            h('p', { class: 'muted' }, `@${user.username}`),
            presence ? h('p', {}, presence) : null,
            h('p', {}, t(`relationship.${user.relationship}`)))),
        h('div', { class: 'actions' }, actionsFor(user, load))));
    } catch (err) {
      if (disposed) return;
      mount(root, h('div', { class: 'page' }, h('p', { class: 'error', role: 'alert' }, errorText(err)), h('a', { href: '#/people' }, t('nav.back'))));
    }
  }
  load();
  offs.push(on('friends', load));
  return () => { disposed = true; offs.forEach((off) => off()); };
}
