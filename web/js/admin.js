// Administration (admins only; the server checks it on every call): the reports queue,
// invites, and accounts (search, suspend, force logout, delete).

import { del, get, post, qs } from './api.js';
import { announce, debounce, h, mount, tabbedPage } from './dom.js';
import { errorText, formatDateTime, t } from './i18n.js';
import { state } from './state.js';
import { confirmDialog } from './dialogs.js';

const TABS = ['reports', 'invites', 'users'];

export function renderAdmin(root, tab) {
  const current = TABS.includes(tab) ? tab : 'reports';
  const body = h('div');
  mount(root, tabbedPage({
    title: t('nav.admin'), back: t('nav.back'), label: t('admin.sections'), current,
    tabs: TABS.map((name) => [name, `#/admin/${name}`, t(`admin.${name}`)]),
  }, body));
  ({ reports, invites, users })[current](body);
  return () => {};
}

async function reports(root, status = 'open') {
  const select = h('select', { id: 'report-status', onchange: () => reports(root, select.value) },
    ['open', 'dismissed', 'message_deleted', 'user_suspended'].map((s) => h('option', { value: s, selected: s === status }, t(`report.status.${s}`))));
  let data;
  try {
    data = await get(`/admin/reports${qs({ status })}`);
  } catch (err) {
    mount(root, h('p', { class: 'error', role: 'alert' }, errorText(err)));
    return;
  }
  const resolve = (r, action) => async () => {
    try {
      await post(`/admin/reports/${encodeURIComponent(r.id)}/resolve`, { action });
      announce(t('report.resolved'));
      reports(root, status);
    } catch (err) {
      announce(errorText(err));
    }
  };
  mount(root,
    h('div', { class: 'field' }, h('label', { for: 'report-status' }, t('report.show')), select),
    data.reports.length ? h('ul', { class: 'report-list' }, data.reports.map((r) => h('li', { class: 'card' },
      h('p', {}, h('strong', {}, r.reporter?.display_name || '?'), ` · ${formatDateTime(r.created_at)}`),
      h('p', {}, h('span', { class: 'muted' }, `${t('report.reason')}: `), r.reason),
      r.user ? h('p', {}, h('span', { class: 'muted' }, `${t('report.user')}: `), `${r.user.display_name} @${r.user.username || ''}`) : null,
      r.message ? h('blockquote', {}, h('strong', {}, `${r.message.sender?.display_name || ''}: `), r.message.deleted ? t('msg.deleted') : (r.message.text || '')) : null,
      r.status === 'open' ? h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: resolve(r, 'dismiss') }, t('report.dismiss')),
        r.message ? h('button', { type: 'button', class: 'danger', onclick: resolve(r, 'delete_message') }, t('report.deleteMessage')) : null,
        r.user || r.message ? h('button', { type: 'button', class: 'danger', onclick: resolve(r, 'suspend_user') }, t('report.suspend')) : null)
        : h('p', { class: 'muted' }, t(`report.status.${r.status}`))))) : h('p', { class: 'muted' }, t('report.none')));
}

function invites(root) {
  const out = h('div', { 'aria-live': 'polite' });
  mount(root, h('div', { class: 'card' },
    h('p', {}, t('admin.inviteExplain')),
    h('button', {
      type: 'button',
      class: 'primary',
      onclick: async () => {
        try {
          const { code } = await post('/admin/invites');
          out.append(h('p', {}, `${t('admin.inviteCode')}: `, h('code', {}, code)));
        } catch (err) {
          out.append(h('p', { class: 'error' }, errorText(err)));
        }
      },
    }, t('admin.createInvite')),
    out));
}

const USERS_PAGE = 100;

function users(root) {
  const q = h('input', { id: 'admin-q', type: 'search', autocomplete: 'off', maxlength: 64 });
  const list = h('ul', { class: 'people-list' });
  const status = h('p', { class: 'error', role: 'alert' });
  const more = h('button', { type: 'button', class: 'link more', hidden: true }, t('list.more'));
  const row = (u) => {
    const name = encodeURIComponent(u.username);
    const act = (fn, done) => async () => {
      try { await fn(); announce(done); load(); } catch (err) { announce(errorText(err)); }
    };
    return h('li', { class: 'person' },
      h('span', { class: 'grow' }, h('strong', {}, u.display_name), h('span', { class: 'muted' }, ` @${u.username}`),
        u.is_admin ? h('span', { class: 'pill' }, t('admin.isAdmin')) : null,
        u.suspended ? h('span', { class: 'pill warn' }, t('admin.suspended')) : null),
      u.id === state.me.id ? null : h('div', { class: 'actions' },
        u.suspended
          ? h('button', { type: 'button', onclick: act(() => post(`/admin/users/${name}/unsuspend`), t('admin.unsuspended')) }, t('admin.unsuspend'))
          : h('button', { type: 'button', class: 'danger', onclick: act(() => post(`/admin/users/${name}/suspend`), t('admin.suspendedDone')) }, t('admin.suspend')),
        h('button', { type: 'button', onclick: act(() => post(`/admin/users/${name}/logout`), t('admin.loggedOut')) }, t('admin.logout')),
        h('button', {
          type: 'button',
          class: 'danger',
          onclick: act(async () => {
            if (await confirmDialog(t('admin.delete'), t('admin.deleteConfirm', { name: u.username }), t('admin.delete'))) await del(`/admin/users/${name}`);
          }, t('admin.deleted')),
        }, t('admin.delete'))));
  };
  // Pages of accounts by username: the next starts after the last one shown. Only the
  // latest search's answers are shown (a late one for an older search is dropped).
  let search = 0;
  const page = async (query, after, ticket) => {
    more.disabled = true;
    try {
      const data = await get(`/admin/users${qs({ q: query, after, limit: USERS_PAGE })}`);
      if (ticket !== search) return;
      if (!after) mount(list);
      status.textContent = '';
      list.append(...data.users.map(row));
      const last = data.users[data.users.length - 1];
      more.hidden = data.users.length < USERS_PAGE;
      more.onclick = () => page(query, last.username, ticket);
    } catch (err) {
      if (ticket === search) status.textContent = errorText(err);
    } finally {
      more.disabled = false;
    }
  };
  const load = () => { search += 1; return page(q.value.trim(), undefined, search); };
  q.addEventListener('input', debounce(load, 250));
  mount(root, h('div', { class: 'field' }, h('label', { for: 'admin-q' }, t('admin.findUser')), q), status, list, more);
  load();
}
