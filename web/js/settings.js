// Settings: profile, privacy, notifications, and security (2FA with its QR code and
// recovery codes, password, sessions and devices, the security log, the data download and
// account deletion).

import { del, download, get, patch, post, qs } from './api.js';
import { announce, h, mount, tabbedPage } from './dom.js';
import { errorText, formatDateTime, lang, setLang, t, LANGS } from './i18n.js';
import { askPermission, permission } from './notify.js';
import { emit, state } from './state.js';
import { confirmDialog } from './dialogs.js';

const TABS = ['profile', 'privacy', 'notifications', 'security'];

export function renderSettings(root, tab, { signOut, rerender }) {
  const current = TABS.includes(tab) ? tab : 'profile';
  const body = h('div', { class: 'settings-body' });
  mount(root, tabbedPage({
    title: t('nav.settings'), back: t('nav.back'), label: t('settings.sections'), current,
    tabs: TABS.map((name) => [name, `#/settings/${name}`, t(`settings.${name}`)]),
  }, body));
  ({ profile, privacy, notifications, security })[current](body, { signOut, rerender });
  return () => {};
}

/** A form that PATCHes /me and says so. */
function saveMe(changes, status) {
  return patch('/me', changes).then((me) => {
    state.me = me;
    emit('me');
    status.textContent = t('settings.saved');
    announce(t('settings.saved'));
  }).catch((err) => { status.textContent = errorText(err); });
}

function profile(root, { rerender }) {
  const name = h('input', { id: 'display-name', value: state.me.display_name, maxlength: 64, required: true, autocomplete: 'name' });
  const status = h('p', { class: 'status', role: 'status' });
  const langSelect = h('select', { id: 'settings-lang' }, LANGS.map((l) => h('option', { value: l.code, selected: l.code === lang() }, l.name)));
  mount(root,
    h('form', { class: 'card', onsubmit: async (e) => { e.preventDefault(); await saveMe({ display_name: name.value.trim() }, status); } },
      h('h2', {}, t('settings.profile')),
      h('div', { class: 'field' }, h('label', { for: 'display-name' }, t('auth.displayName')), name),
      h('p', {}, h('span', { class: 'muted' }, `${t('auth.username')}: `), `@${state.me.username}`),
      h('p', {}, h('span', { class: 'muted' }, `${t('settings.email')}: `), state.me.email_address),
      h('button', { type: 'submit', class: 'primary' }, t('common.save')),
      status),
    addressesCard(EMAILS),
    addressesCard(PHONES),
    h('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); setLang(langSelect.value); rerender(); } },
      h('h2', {}, t('settings.language')),
      h('div', { class: 'field' }, h('label', { for: 'settings-lang' }, t('settings.language')), langSelect),
      h('button', { type: 'submit' }, t('common.save'))));
}

/** One's own email addresses elsewhere: a code is mailed to each; mail from them is one's own. */
const EMAILS = { base: '/me/emails', list: 'emails', field: 'address', keys: 'emails', id: 'email', type: 'email', autocomplete: 'email', maxlength: 254 };
/** One's own phone numbers: a code is texted to each; texts from them are one's own. */
const PHONES = { base: '/me/phones', list: 'phones', field: 'number', keys: 'phones', id: 'phone', type: 'tel', autocomplete: 'tel', maxlength: 40 };

/**
 * One's own addresses elsewhere (email addresses or phone numbers, as `kind` says): added
 * with a code sent to them, after which what comes from them lands as one's own messages.
 */
function addressesCard(kind) {
  const card = h('section', { class: 'card', 'aria-labelledby': `${kind.list}-title` });
  const status = h('p', { class: 'status', role: 'status' });
  const say = (text) => { status.textContent = text; announce(text); };
  // Titles and explanations are the kind's own; the rest reads the same for both.
  const own = (key) => (kind.keys === 'phones' && ['title', 'explain', 'add'].includes(key) ? `phones.${key}` : `emails.${key}`);
  async function draw(focusId) {
    let items = [];
    // Numbers can be added only where the server texts (the answer says); addresses always.
    let available = true;
    try {
      const answer = await get(kind.base);
      items = answer[kind.list];
      available = answer.available !== false;
    } catch (err) {
      status.textContent = errorText(err);
    }
    const input = h('input', { id: `${kind.id}-new`, type: kind.type, maxlength: kind.maxlength, required: true, autocomplete: kind.autocomplete });
    mount(card,
      h('h2', { id: `${kind.list}-title` }, t(own('title'))),
      h('p', { class: 'hint' }, t(own('explain'))),
      h('ul', { class: 'email-list', 'aria-label': t(own('title')) }, items.map((item) => {
        const value = item[kind.field];
        const path = `${kind.base}/${encodeURIComponent(value)}`;
        const code = h('input', { id: `code-${value}`, inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, pattern: '[0-9]{6}', required: true });
        return h('li', {},
          h('span', {}, value, ' '),
          h('span', { class: item.verified ? 'tag ok' : 'tag' }, t(item.verified ? 'emails.verified' : 'emails.waiting')),
          item.verified && 'digest' in item ? h('label', { class: 'check-inline' },
            h('input', {
              type: 'checkbox',
              checked: item.digest,
              onchange: async (e) => {
                try {
                  await patch(path, { digest: e.target.checked });
                  say(t(e.target.checked ? 'emails.digestOn' : 'emails.digestOff', { address: value }));
                } catch (err) { e.target.checked = !e.target.checked; say(errorText(err)); }
              },
            }), ' ', t('emails.digest')) : null,
          item.verified ? null : h('form', {
            class: 'inline-form',
            onsubmit: async (e) => {
              e.preventDefault();
              try {
                await post(`${kind.base}/verify`, { [kind.field]: value, code: code.value.trim() });
                say(t('emails.verifiedNow', { address: value }));
                draw(`${kind.id}-new`);
              } catch (err) { say(errorText(err)); }
            },
          }, h('label', { for: code.id }, t('emails.code')), code, h('button', { type: 'submit' }, t('emails.verify'))),
          h('button', {
            type: 'button',
            'aria-label': t('emails.removeLabel', { address: value }),
            onclick: async () => {
              try { await del(path); say(t('emails.removed', { address: value })); draw(`${kind.id}-new`); } catch (err) { say(errorText(err)); }
            },
          }, t('emails.remove')));
      })),
      available ? null : h('p', { class: 'hint' }, t('phones.unavailable')),
      !available ? null : h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            const added = await post(kind.base, { [kind.field]: input.value.trim() });
            say(t('emails.sent', { address: added[kind.field] }));
            draw(`code-${added[kind.field]}`);
          } catch (err) { say(errorText(err)); }
        },
      },
      h('div', { class: 'field' }, h('label', { for: input.id }, t(own('add'))), input),
      h('button', { type: 'submit' }, t('emails.sendCode'))),
      status);
    if (focusId) document.getElementById(focusId)?.focus();
  }
  draw();
  return card;
}

function privacy(root) {
  const s = state.me.settings;
  const who = h('select', { id: 'who' }, ['everyone', 'friends_of_friends', 'friends'].map((v) => h('option', { value: v, selected: s.who_can_message === v }, t(`privacy.who.${v}`))));
  const seen = h('select', { id: 'seen' }, ['everyone', 'friends', 'nobody'].map((v) => h('option', { value: v, selected: s.last_seen_visibility === v }, t(`privacy.seen.${v}`))));
  const receipts = h('input', { id: 'receipts', type: 'checkbox', checked: s.read_receipts });
  const status = h('p', { class: 'status', role: 'status' });
  mount(root, h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      await saveMe({ settings: { who_can_message: who.value, last_seen_visibility: seen.value, read_receipts: receipts.checked } }, status);
    },
  },
  h('h2', {}, t('settings.privacy')),
  h('div', { class: 'field' }, h('label', { for: 'who' }, t('privacy.whoLabel')), who),
  h('div', { class: 'field' }, h('label', { for: 'seen' }, t('privacy.seenLabel')), seen),
  h('div', { class: 'field check' }, receipts, h('label', { for: 'receipts' }, t('privacy.receipts'))),
  h('p', { class: 'hint' }, t('privacy.receiptsHint')),
  h('button', { type: 'submit', class: 'primary' }, t('common.save')),
  status));
}

function notifications(root) {
  const status = h('p', { class: 'status', role: 'status' }, t(`notify.permission.${permission()}`));
  mount(root, h('div', { class: 'card' },
    h('h2', {}, t('settings.notifications')),
    h('p', {}, t('notify.explain')),
    permission() === 'default' ? h('button', {
      type: 'button',
      class: 'primary',
      onclick: async () => { const p = await askPermission(); status.textContent = t(`notify.permission.${p}`); },
    }, t('notify.enable')) : null,
    status,
    h('p', { class: 'hint' }, t('notify.perConversation'))));
}

function security(root, { signOut }) {
  const twoFactor = h('section', { class: 'card' });
  const password = h('section', { class: 'card' });
  const sessions = h('section', { class: 'card' });
  const audit = h('section', { class: 'card' });
  const data = h('section', { class: 'card' });
  mount(root, twoFactor, password, sessions, audit, data);
  drawTwoFactor(twoFactor);
  drawPassword(password);
  drawSessions(sessions, signOut, () => drawAudit(audit));
  drawAudit(audit);
  drawData(data, signOut);
}

async function drawTwoFactor(root) {
  let status;
  try {
    status = await get('/me/2fa');
  } catch (err) {
    mount(root, h('h2', {}, t('twofa.title')), h('p', { class: 'error', role: 'alert' }, errorText(err)));
    return;
  }
  const error = h('p', { class: 'error', role: 'alert' });
  if (status.enabled) {
    const pw = h('input', { id: 'twofa-off-password', type: 'password', autocomplete: 'current-password', required: true });
    const code = h('input', { id: 'twofa-off-code', autocomplete: 'one-time-code', required: true });
    mount(root, h('h2', {}, t('twofa.title')),
      h('p', { class: 'ok' }, t('twofa.on')),
      h('p', { class: 'muted' }, t('twofa.codesLeft', { n: status.recovery_codes_left })),
      h('details', {}, h('summary', {}, t('twofa.turnOff')),
        h('form', {
          onsubmit: async (e) => {
            e.preventDefault();
            try { await del('/me/2fa', { password: pw.value, code: code.value.trim() }); announce(t('twofa.offDone')); drawTwoFactor(root); } catch (err) { error.textContent = errorText(err); }
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'twofa-off-password' }, t('auth.password')), pw),
        h('div', { class: 'field' }, h('label', { for: 'twofa-off-code' }, t('auth.code')), code),
        h('button', { type: 'submit', class: 'danger' }, t('twofa.turnOff')))),
      error);
    return;
  }
  mount(root, h('h2', {}, t('twofa.title')),
    h('p', {}, t('twofa.off')),
    h('button', {
      type: 'button',
      class: 'primary',
      onclick: async () => {
        try { enrol(root, await post('/me/2fa')); } catch (err) { error.textContent = errorText(err); }
      },
    }, t('twofa.start')),
    error);
}

function enrol(root, enrolment) {
  const qr = h('img', { class: 'qr', alt: t('twofa.qrAlt'), width: 200, height: 200 });
  // The server's SVG shown as a picture (from a blob: URL): an <img> never runs what an SVG carries.
  qr.src = URL.createObjectURL(new Blob([enrolment.qr_svg], { type: 'image/svg+xml' }));
  const code = h('input', { id: 'twofa-code', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 6, required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  mount(root, h('h2', {}, t('twofa.title')),
    h('ol', { class: 'steps' },
      h('li', {}, t('twofa.step1')),
      h('li', {}, t('twofa.step2'), h('div', { class: 'qr-box' }, qr,
        h('p', {}, t('twofa.manual'), ' ', h('code', { class: 'secret' }, enrolment.secret)))),
      h('li', {}, t('twofa.step3'))),
    h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const answer = await post('/me/2fa/confirm', { code: code.value.trim() });
          showRecovery(root, answer.recovery_codes);
        } catch (err) {
          error.textContent = errorText(err);
          code.select();
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'twofa-code' }, t('twofa.codeLabel')), code),
    h('button', { type: 'submit', class: 'primary' }, t('twofa.confirm'))),
    error);
  code.focus();
}

function showRecovery(root, codes) {
  const text = codes.join('\n');
  mount(root, h('h2', {}, t('twofa.title')),
    h('p', { class: 'ok', role: 'status' }, t('twofa.enabledDone')),
    h('p', {}, t('twofa.recoveryExplain')),
    h('ul', { class: 'recovery-codes', 'aria-label': t('twofa.recoveryCodes') }, codes.map((c) => h('li', {}, h('code', {}, c)))),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(text).then(() => announce(t('msg.copied'))).catch(() => {}) }, t('twofa.copy')),
      h('button', {
        type: 'button',
        onclick: () => {
          const a = h('a', { href: URL.createObjectURL(new Blob([`${text}\n`], { type: 'text/plain' })), download: 'hilo-recovery-codes.txt' });
          document.body.append(a);
          a.click();
          a.remove();
        },
      }, t('twofa.downloadCodes')),
      h('button', { type: 'button', class: 'primary', onclick: () => drawTwoFactor(root) }, t('twofa.saved'))));
}

function drawPassword(root) {
  const current = h('input', { id: 'pw-current', type: 'password', autocomplete: 'current-password', required: true, maxlength: 128 });
  const next = h('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 });
  const status = h('p', { class: 'status', role: 'status' });
  mount(root, h('h2', {}, t('password.title')),
    h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await post('/me/password', { current_password: current.value, new_password: next.value });
          current.value = '';
          next.value = '';
          status.textContent = t('password.changed');
        } catch (err) {
          status.textContent = errorText(err);
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'pw-current' }, t('password.current')), current),
    h('div', { class: 'field' }, h('label', { for: 'pw-new' }, t('password.new')), next,
      h('p', { class: 'hint' }, t('password.hint'))),
    h('button', { type: 'submit', class: 'primary' }, t('password.change')),
    status));
}

async function drawSessions(root, signOut, changed) {
  let data;
  try {
    data = await get('/sessions');
  } catch (err) {
    mount(root, h('h2', {}, t('sessions.title')), h('p', { class: 'error', role: 'alert' }, errorText(err)));
    return;
  }
  const redraw = () => { drawSessions(root, signOut, changed); changed(); };
  mount(root, h('h2', {}, t('sessions.title')),
    h('ul', { class: 'session-list' }, data.sessions.map((s) => h('li', {},
      h('div', { class: 'grow' },
        h('strong', {}, s.device_name || t('sessions.unknownDevice')),
        s.current ? h('span', { class: 'pill' }, t('sessions.current')) : null,
        h('p', { class: 'muted small' }, t('sessions.detail', { ip: s.ip || '?', created: formatDateTime(s.created_at), seen: formatDateTime(s.last_seen_at) }))),
      h('button', {
        type: 'button',
        class: s.current ? '' : 'danger',
        'aria-label': s.current ? t('auth.logout') : t('sessions.revokeOne', { device: s.device_name || '' }),
        onclick: async () => {
          if (s.current) { signOut(true); return; }
          try { await del(`/sessions/${encodeURIComponent(s.id)}`); announce(t('sessions.revoked')); redraw(); } catch (err) { announce(errorText(err)); }
        },
      }, s.current ? t('auth.logout') : t('sessions.revoke'))))),
    data.sessions.length > 1 ? h('button', {
      type: 'button',
      class: 'danger',
      onclick: async () => {
        if (!await confirmDialog(t('sessions.revokeOthers'), t('sessions.revokeOthersConfirm'), t('sessions.revokeOthers'))) return;
        try { await del('/sessions/others'); announce(t('sessions.revoked')); redraw(); } catch (err) { announce(errorText(err)); }
      },
    }, t('sessions.revokeOthers')) : null);
}

async function drawAudit(root, before = null, list = null) {
  try {
    const data = await get(`/me/audit${qs({ before, limit: 20 })}`);
    const ul = list || h('ul', { class: 'audit-list' });
    for (const e of data.events) {
      ul.append(h('li', {},
        h('strong', {}, t(`audit.${e.type}`)),
        h('span', { class: 'muted small' }, ` ${formatDateTime(e.at)}${e.device ? ` · ${e.device}` : ''}${e.ip ? ` · ${e.ip}` : ''}`)));
    }
    const last = data.events[data.events.length - 1];
    const more = data.events.length === 20 ? h('button', { type: 'button', class: 'link', onclick: (ev) => { ev.target.remove(); drawAudit(root, last.id, ul); } }, t('list.more')) : null;
    if (!list) mount(root, h('h2', {}, t('audit.title')), ul.children.length ? ul : h('p', { class: 'muted' }, t('audit.empty')), more);
    else if (more) root.append(more);
  } catch (err) {
    mount(root, h('h2', {}, t('audit.title')), h('p', { class: 'error', role: 'alert' }, errorText(err)));
  }
}

function drawData(root, signOut) {
  const status = h('p', { class: 'status', role: 'status' });
  const pw = h('input', { id: 'delete-password', type: 'password', autocomplete: 'current-password', required: true });
  mount(root, h('h2', {}, t('data.title')),
    h('p', {}, t('data.exportExplain')),
    h('button', {
      type: 'button',
      onclick: async () => {
        status.textContent = t('data.preparing');
        try { await download('/me/export', `hilo-${state.me.username}.zip`); status.textContent = t('data.ready'); } catch (err) { status.textContent = errorText(err); }
      },
    }, t('data.export')),
    status,
    h('details', { class: 'danger-zone' },
      h('summary', {}, t('data.delete')),
      h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          if (!await confirmDialog(t('data.delete'), t('data.deleteConfirm'), t('data.deleteForever'))) return;
          try { await del('/me', { password: pw.value }); signOut(false); } catch (err) { status.textContent = errorText(err); }
        },
      },
      h('p', {}, t('data.deleteExplain')),
      h('div', { class: 'field' }, h('label', { for: 'delete-password' }, t('auth.password')), pw),
      h('button', { type: 'submit', class: 'danger' }, t('data.deleteForever')))));
}
