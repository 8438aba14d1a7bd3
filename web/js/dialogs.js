// The small dialogs several views share: confirm a destructive act, give a reason (reports).

import { h, modal } from './dom.js';
import { t } from './i18n.js';

/** Resolves to true when confirmed with `okLabel`, false or undefined otherwise. */
export function confirmDialog(title, text, okLabel) {
  return modal(title, (close) => h('div', {},
    h('p', {}, text),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => close(false) }, t('common.cancel')),
      h('button', { type: 'button', class: 'primary danger', onclick: () => close(true) }, okLabel))));
}

/** Resolves to the reason typed (trimmed), or undefined when cancelled. */
export function reasonDialog(title) {
  return modal(title, (close) => {
    const reason = h('textarea', { id: 'report-reason', required: true, maxlength: 1000, rows: 3 });
    return h('form', { onsubmit: (e) => { e.preventDefault(); if (reason.value.trim()) close(reason.value.trim()); } },
      h('div', { class: 'field' }, h('label', { for: 'report-reason' }, t('report.reason')), reason),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => close() }, t('common.cancel')),
        h('button', { type: 'submit', class: 'primary' }, t('report.send'))));
  });
}
