// The composer: Enter sends, Shift+Enter starts a new line; emoji; files by the picker,
// drag and drop or paste, each uploaded at once with its progress shown; a place; a quoted
// reply; editing one's own message; @mention completion from the members; and the typing
// signal (sent at most every 3 seconds while typing, ended on send or when emptied).

import { post, upload } from './api.js';
import { announce, h, icon, modal, mount } from './dom.js';
import { errorText, t } from './i18n.js';
import { state } from './state.js';

export const EMOJI = [
  '😀', '😃', '😄', '😁', '😆', '😅', '😂', '🤣', '😊', '😇', '🙂', '🙃', '😉', '😍', '🥰', '😘',
  '😋', '😜', '🤪', '🤔', '🤗', '🤭', '😐', '😏', '😒', '🙄', '😬', '😌', '😔', '😴', '😷', '🤒',
  '🥳', '😎', '🤓', '😕', '😟', '😮', '😲', '😳', '🥺', '😢', '😭', '😱', '😤', '😡', '🤯', '🥶',
  '👍', '👎', '👏', '🙌', '🙏', '💪', '👋', '🤝', '✌️', '🤞', '👌', '👀', '❤️', '🧡', '💛', '💚',
  '💙', '💜', '🖤', '💔', '💯', '🔥', '✨', '🎉', '🎂', '🎁', '☕', '🍕', '🍺', '🌮', '⚽', '🚀',
  '✅', '❌', '⚠️', '❓', '💡', '📌', '📎', '📷', '🎵', '🌞', '🌧️', '🌈', '🐶', '🐱', '🌹', '🍀',
];

/** A modal grid of emoji; resolves to the one chosen (or undefined). */
export function pickEmoji() {
  return modal(t('composer.emoji'), (close) => h('div', {},
    h('div', { class: 'emoji-grid', role: 'group', 'aria-label': t('composer.emoji') },
      EMOJI.map((e) => h('button', { type: 'button', class: 'emoji', onclick: () => close(e) }, e))),
    h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close() }, t('common.cancel')))));
}

/**
 * A menu of buttons next to `anchor` (role=menu: arrow keys move, Escape closes and gives
 * focus back). items: [{label, aria?, run, danger?}].
 */
export function showMenu(anchor, items, { horizontal = false, label } = {}) {
  document.querySelector('.menu')?.remove();
  const menu = h('div', { class: `menu${horizontal ? ' horizontal' : ''}`, role: 'menu', 'aria-label': label, 'aria-orientation': horizontal ? 'horizontal' : 'vertical' });
  const close = (refocus = true) => {
    menu.remove();
    document.removeEventListener('pointerdown', outside, true);
    if (refocus) anchor.focus();
  };
  const outside = (e) => { if (!menu.contains(e.target)) close(false); };
  const buttons = items.map((item) => h('button', {
    type: 'button',
    role: 'menuitem',
    class: item.danger ? 'danger' : '',
    'aria-label': item.aria,
    tabindex: '-1',
    onclick: () => { close(); item.run(); },
  }, item.label));
  mount(menu, buttons);
  menu.addEventListener('keydown', (e) => {
    const at = buttons.indexOf(document.activeElement);
    const next = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[e.key];
    if (next) { e.preventDefault(); buttons[(at + next + buttons.length) % buttons.length].focus(); }
    if (e.key === 'Home') { e.preventDefault(); buttons[0].focus(); }
    if (e.key === 'End') { e.preventDefault(); buttons[buttons.length - 1].focus(); }
    if (e.key === 'Escape') { e.preventDefault(); close(); }
    if (e.key === 'Tab') close(false);
  });
  document.body.append(menu);
  const box = anchor.getBoundingClientRect();
  const width = menu.offsetWidth;
  const height = menu.offsetHeight;
  menu.style.left = `${Math.max(8, Math.min(window.innerWidth - width - 8, box.right - width))}px`;
  menu.style.top = `${box.bottom + height + 8 > window.innerHeight ? Math.max(8, box.top - height - 4) : box.bottom + 4}px`;
  document.addEventListener('pointerdown', outside, true);
  buttons[0]?.focus();
}

export function renderComposer({ conv, send, edit, uploadTarget }) {
  let replyTo = null;
  let editing = null;
  const uploads = []; // { id, file, progress, attachment, error, promise, el }
  let typingSentAt = 0;
  const input = h('textarea', {
    id: 'composer',
    rows: 1,
    'aria-label': t('composer.label'),
    placeholder: t('composer.placeholder'),
    maxlength: 10000,
    'aria-autocomplete': 'list',
    'aria-controls': 'mention-list',
  });
  const banner = h('div', { class: 'composer-banner', hidden: true });
  const files = h('ul', { class: 'upload-list', 'aria-label': t('composer.files'), hidden: true });
  const mentionList = h('ul', { id: 'mention-list', class: 'mention-list', role: 'listbox', hidden: true, 'aria-label': t('composer.mentions') });
  const fileInput = h('input', { type: 'file', multiple: true, hidden: true, onchange: () => { addFiles(fileInput.files); fileInput.value = ''; } });
  const error = h('p', { class: 'error', role: 'alert' });
  const sendButton = h('button', { type: 'submit', class: 'primary send' }, t('composer.send'));
  let mention = null; // { start, query, items, active }

  const form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); submit(); } },
    banner,
    files,
    h('div', { class: 'composer-row' },
      h('button', { type: 'button', class: 'icon-button', 'aria-label': t('composer.emoji'), title: t('composer.emoji'), onclick: async () => { const e = await pickEmoji(); if (e) insert(e); } }, icon('smile')),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': t('composer.attach'), title: t('composer.attach'), onclick: () => fileInput.click() }, icon('attach')),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': t('composer.location'), title: t('composer.location'), onclick: shareLocation }, icon('pin')),
      h('div', { class: 'input-wrap' }, input, mentionList),
      sendButton),
    fileInput,
    error);

  function insert(text) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    input.setRangeText(text, start, end, 'end');
    input.focus();
    grow();
  }

  function grow() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  // ---- typing ------------------------------------------------------------------------
  function typing(on) {
    const c = conv();
    if (!c || c.folder === 'requests' || c.folder === 'spam') return;
    if (on && Date.now() - typingSentAt < 3000) return;
    if (!on && !typingSentAt) return;
    typingSentAt = on ? Date.now() : 0;
    post(`/conversations/${encodeURIComponent(c.id)}/typing`, { typing: on }).catch(() => {});
  }

  // ---- mentions ----------------------------------------------------------------------
  function updateMentions() {
    const before = input.value.slice(0, input.selectionStart);
    const match = before.match(/(^|[^\w.@])@([a-z0-9._]{0,32})$/i);
    const c = conv();
    if (!match || !c || c.kind !== 'group') { closeMentions(); return; }
    const query = match[2].toLowerCase();
    const items = c.members.filter((m) => m.id !== state.me.id && m.username
      && (m.username.startsWith(query) || m.display_name.toLowerCase().startsWith(query))).slice(0, 8);
    if (!items.length) { closeMentions(); return; }
    mention = { start: before.length - query.length - 1, items, active: 0 };
    drawMentions();
  }

  function drawMentions() {
    mount(mentionList, mention.items.map((m, i) => h('li', {
      id: `mention-${i}`,
      role: 'option',
      'aria-selected': String(i === mention.active),
      onpointerdown: (e) => { e.preventDefault(); chooseMention(i); },
    }, h('strong', {}, m.display_name), ' ', h('span', { class: 'muted' }, `@${m.username}`))));
    mentionList.hidden = false;
    input.setAttribute('aria-activedescendant', `mention-${mention.active}`);
  }

  function closeMentions() {
    mention = null;
    mentionList.hidden = true;
    input.removeAttribute('aria-activedescendant');
  }

  function chooseMention(i) {
    const m = mention.items[i];
    input.setRangeText(`@${m.username} `, mention.start, input.selectionStart, 'end');
    closeMentions();
    input.focus();
  }

  input.addEventListener('input', () => {
    grow();
    updateMentions();
    if (!editing) typing(input.value.trim().length > 0);
  });
  input.addEventListener('keydown', (e) => {
    if (mention) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        mention.active = (mention.active + (e.key === 'ArrowDown' ? 1 : -1) + mention.items.length) % mention.items.length;
        drawMentions();
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); chooseMention(mention.active); return; }
      if (e.key === 'Escape') { e.preventDefault(); closeMentions(); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
    if (e.key === 'Escape' && (replyTo || editing)) {
      e.preventDefault();
      // Leaving an edit leaves nothing of it behind to be sent as a new message.
      if (editing) { input.value = ''; grow(); }
      cancelBanner();
    }
    if (e.key === 'ArrowUp' && !input.value && !editing) {
      // As in Slack: the up arrow in an empty composer edits one's last message.
      const own = [...(state.threads.get(conv()?.id)?.messages.values() || [])]
        .filter((m) => m.sender?.id === state.me.id && m.text && !m.deleted).sort((a, b) => b.seq - a.seq)[0];
      if (own) { e.preventDefault(); startEdit(own); }
    }
  });
  input.addEventListener('blur', () => setTimeout(closeMentions, 150));

  // ---- files -------------------------------------------------------------------------
  function addFiles(list) {
    for (const file of list) {
      const item = { file, progress: 0, attachment: null, error: null };
      const bar = h('progress', { max: 1, value: 0, 'aria-label': t('composer.uploading', { name: file.name || t('composer.pasted') }) });
      const status = h('span', { class: 'muted small' }, t('composer.uploadingShort'));
      item.el = h('li', { class: 'upload' },
        h('span', { class: 'file-name' }, file.name || t('composer.pasted')),
        bar, status,
        h('button', { type: 'button', class: 'icon-button', 'aria-label': t('composer.removeFile', { name: file.name || '' }), onclick: () => removeUpload(item) }, icon('close')));
      item.promise = upload(file, (p) => { bar.value = p; })
        .then((attachment) => { item.attachment = attachment; bar.value = 1; status.textContent = t('composer.uploaded'); return attachment; })
        .catch((err) => { item.error = err; status.textContent = errorText(err); status.className = 'error small'; return null; });
      uploads.push(item);
      files.append(item.el);
    }
    files.hidden = uploads.length === 0;
    input.focus();
  }

  function removeUpload(item) {
    uploads.splice(uploads.indexOf(item), 1);
    item.el.remove();
    files.hidden = uploads.length === 0;
  }

  input.addEventListener('paste', (e) => {
    if (e.clipboardData?.files?.length) { e.preventDefault(); addFiles(e.clipboardData.files); }
  });
  const onDragOver = (e) => { if (e.dataTransfer?.types?.includes('Files')) { e.preventDefault(); uploadTarget.classList.add('dropping'); } };
  const onDragLeave = (e) => { if (!uploadTarget.contains(e.relatedTarget)) uploadTarget.classList.remove('dropping'); };
  const onDrop = (e) => {
    uploadTarget.classList.remove('dropping');
    if (e.dataTransfer?.files?.length) { e.preventDefault(); addFiles(e.dataTransfer.files); }
  };
  uploadTarget.addEventListener('dragover', onDragOver);
  uploadTarget.addEventListener('dragleave', onDragLeave);
  uploadTarget.addEventListener('drop', onDrop);

  // ---- location ----------------------------------------------------------------------
  async function shareLocation() {
    const place = await modal(t('composer.location'), (close) => {
      const label = h('input', { id: 'loc-label', maxlength: 200 });
      const lat = h('input', { id: 'loc-lat', inputmode: 'decimal', required: true });
      const lon = h('input', { id: 'loc-lon', inputmode: 'decimal', required: true });
      const err = h('p', { class: 'error', role: 'alert' });
      const here = navigator.geolocation ? h('button', {
        type: 'button',
        onclick: () => navigator.geolocation.getCurrentPosition(
          (pos) => { lat.value = pos.coords.latitude.toFixed(6); lon.value = pos.coords.longitude.toFixed(6); },
          () => { err.textContent = t('composer.noPosition'); },
          { timeout: 10_000 },
        ),
      }, t('composer.here')) : null;
      return h('form', {
        onsubmit: (e) => {
          e.preventDefault();
          const la = Number(lat.value.replace(',', '.'));
          const lo = Number(lon.value.replace(',', '.'));
          if (!lat.value || !lon.value || !Number.isFinite(la) || !Number.isFinite(lo) || Math.abs(la) > 90 || Math.abs(lo) > 180) {
            err.textContent = t('composer.badPosition');
            return;
          }
          close({ lat: la, lon: lo, label: label.value.trim() || undefined });
        },
      },
      here,
      h('div', { class: 'field' }, h('label', { for: 'loc-label' }, t('composer.placeName')), label),
      h('div', { class: 'field-row' },
        h('div', { class: 'field' }, h('label', { for: 'loc-lat' }, t('composer.lat')), lat),
        h('div', { class: 'field' }, h('label', { for: 'loc-lon' }, t('composer.lon')), lon)),
      err,
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => close() }, t('common.cancel')),
        h('button', { type: 'submit', class: 'primary' }, t('composer.share'))));
    });
    if (!place) return;
    // The place goes with what is written (and the quoted message); files wait for Send.
    const text = input.value.trim() || undefined;
    const quoted = replyTo;
    input.value = '';
    grow();
    if (replyTo) cancelBanner();
    send({ text, location: place, replyTo: quoted });
  }

  // ---- reply and edit ----------------------------------------------------------------
  function startReply(m) {
    editing = null;
    replyTo = m;
    mount(banner, h('div', { class: 'banner-text' }, h('strong', {}, t('composer.replyingTo', { name: m.sender?.display_name || '' })), h('span', { class: 'muted' }, m.text || m.attachments?.[0]?.name || '')),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': t('composer.cancelReply'), onclick: cancelBanner }, icon('close')));
    banner.hidden = false;
    input.focus();
  }

  function startEdit(m) {
    replyTo = null;
    editing = m;
    input.value = m.text || '';
    grow();
    mount(banner, h('div', { class: 'banner-text' }, h('strong', {}, t('composer.editing'))),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': t('composer.cancelEdit'), onclick: () => { input.value = ''; cancelBanner(); } }, icon('close')));
    banner.hidden = false;
    sendButton.textContent = t('composer.save');
    input.focus();
  }

  function cancelBanner(focus = true) {
    replyTo = null;
    editing = null;
    banner.hidden = true;
    mount(banner);
    sendButton.textContent = t('composer.send');
    if (focus) input.focus();
  }

  // ---- sending -----------------------------------------------------------------------
  let submitting = false;

  async function submit() {
    if (submitting) return;
    submitting = true;
    try {
      await submitOnce();
    } finally {
      submitting = false;
    }
  }

  async function submitOnce() {
    error.textContent = '';
    const text = input.value.replace(/\s+$/, '');
    if (editing) {
      if (!text.trim()) { error.textContent = t('composer.emptyEdit'); return; }
      try {
        await edit(editing, text);
        input.value = '';
        cancelBanner();
        grow();
      } catch (err) {
        error.textContent = errorText(err);
      }
      return;
    }
    if (!text.trim() && !uploads.length) return;
    const waiting = uploads.slice();
    const quoted = replyTo;
    // Taken out of the composer now (text and quote), so what is typed while files finish
    // is the next message.
    input.value = '';
    grow();
    if (quoted) cancelBanner(false);
    closeMentions();
    if (waiting.some((u) => !u.attachment && !u.error)) announce(t('composer.waitingUploads'));
    await Promise.all(waiting.map((u) => u.promise));
    // A file removed while it was uploading is not sent (nor its failure counted).
    const files = waiting.filter((u) => uploads.includes(u));
    if (files.some((u) => u.error)) {
      error.textContent = t('composer.uploadFailed');
      // Put the message back, before anything typed since.
      input.value = input.value ? `${text}\n${input.value}` : text;
      grow();
      if (quoted && !replyTo && !editing) startReply(quoted);
      return;
    }
    const body = { text: text.trim() ? text : undefined, attachments: files.map((u) => u.attachment), replyTo: quoted };
    if (!body.text && !files.length) return;
    files.forEach(removeUpload);
    typingSentAt = 0;
    // Not awaited: the message shows as sending at once, and the composer is free again.
    send(body);
  }

  return {
    el: form,
    focus: () => input.focus(),
    startReply,
    startEdit,
    destroy: () => {
      typing(false);
      uploadTarget.removeEventListener('dragover', onDragOver);
      uploadTarget.removeEventListener('dragleave', onDragLeave);
      uploadTarget.removeEventListener('drop', onDrop);
    },
  };
}
