// Sign up and log in: one form, two buttons, so the same username and password go to
// either. A login that needs the second factor reveals the code field (a current code
// from the authenticator app, or one recovery code) and the same "Log in" finishes it.

import { api, setToken } from './api.js';
import { h, mount } from './dom.js';
import { errorText, lang, setLang, t, LANGS } from './i18n.js';

export function renderAuth(root, { error, onSignedIn }) {
  const render = () => renderAuth(root, { error: null, onSignedIn });
  const alertBox = h('p', { class: 'error', role: 'alert' }, error ? errorText(error) : '');
  const username = h('input', { id: 'auth-username', name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true, maxlength: 32 });
  const password = h('input', { id: 'auth-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 128 });
  const displayName = h('input', { id: 'auth-display', name: 'display_name', autocomplete: 'name', maxlength: 64 });
  const invite = h('input', { id: 'auth-invite', name: 'invite_code', autocomplete: 'off', maxlength: 64 });
  const code = h('input', { id: 'auth-code', name: 'totp_code', autocomplete: 'one-time-code', inputmode: 'text', maxlength: 32 });
  const codeRow = h('div', { class: 'field', hidden: true },
    h('label', { for: 'auth-code' }, t('auth.code')),
    code,
    h('p', { class: 'hint', id: 'auth-code-hint' }, t('auth.codeHint')));
  code.setAttribute('aria-describedby', 'auth-code-hint');
  const busy = (on) => form.querySelectorAll('button').forEach((b) => { b.disabled = on; });

  async function submit(mode) {
    alertBox.textContent = '';
    if (!username.value.trim() || !password.value) {
      alertBox.textContent = t('auth.missing');
      (username.value.trim() ? password : username).focus();
      return;
    }
    busy(true);
    try {
      let answer;
      if (mode === 'signup') {
        answer = await api('POST', '/accounts', {
          username: username.value.trim().toLowerCase(),
          password: password.value,
          display_name: displayName.value.trim() || undefined,
          invite_code: invite.value.trim() || undefined,
        }, { auth: false });
      } else {
        answer = await api('POST', '/sessions', {
          username: username.value.trim().toLowerCase(),
          password: password.value,
          totp_code: codeRow.hidden ? undefined : code.value.trim() || undefined,
        }, { auth: false });
      }
      setToken(answer.token);
      await onSignedIn(answer.user);
    } catch (err) {
      busy(false);
      if (err.code === 'totp_required') {
        const first = codeRow.hidden;
        codeRow.hidden = false;
        alertBox.textContent = first ? t('auth.codeNeeded') : errorText(err);
        code.value = '';
        code.focus();
        return;
      }
      alertBox.textContent = errorText(err);
    }
  }

  const form = h('form', {
    class: 'auth-form',
    novalidate: true,
    onsubmit: (e) => { e.preventDefault(); submit(e.submitter?.value === 'signup' ? 'signup' : 'login'); },
  },
  h('div', { class: 'field' }, h('label', { for: 'auth-username' }, t('auth.username')), username),
  h('div', { class: 'field' }, h('label', { for: 'auth-password' }, t('auth.password')), password),
  codeRow,
  h('div', { class: 'actions' },
    h('button', { type: 'submit', value: 'login', class: 'primary' }, t('auth.login')),
    h('button', { type: 'submit', value: 'signup' }, t('auth.signup'))),
  h('details', { class: 'more' },
    h('summary', {}, t('auth.moreSignup')),
    h('div', { class: 'field' }, h('label', { for: 'auth-display' }, t('auth.displayName')), displayName),
    h('div', { class: 'field' }, h('label', { for: 'auth-invite' }, t('auth.invite')), invite)),
  alertBox);

  mount(root, h('main', { class: 'auth', id: 'main' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'auth-head' },
        h('img', { src: '/assets/icon.svg', alt: '', width: 48, height: 48 }),
        h('h1', {}, 'hilo'),
        h('select', {
          'aria-label': t('settings.language'),
          onchange: (e) => { setLang(e.target.value); render(); },
        }, LANGS.map((l) => h('option', { value: l.code, selected: l.code === lang() }, l.name)))),
      h('p', { class: 'tagline' }, t('auth.tagline')),
      form)));
  document.documentElement.lang = lang();
  document.title = 'hilo';
  username.focus();
}
