// Desktop notifications (the Notification API, only while the tab is hidden, as the
// person's mute and notify level allow) and the unread count in the tab's title.

import { t } from './i18n.js';
import { conversationName, isMuted, on, state, totalUnread } from './state.js';

/** Whether a message should alert: not muted, and `notify` all, or mentions naming the person. */
export function shouldNotify(conv, message) {
  if (!conv || !message || message.sender?.id === state.me?.id) return false;
  if (conv.folder === 'spam' || isMuted(conv)) return false;
  if (conv.notify === 'none') return false;
  if (conv.notify === 'mentions') return (message.mentions || []).includes(state.me?.id);
  return true;
}

export function notifyMessage(conv, message) {
  if (!shouldNotify(conv, message) || document.visibilityState === 'visible') return;
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  const title = conv.kind === 'group' ? `${message.sender?.display_name} · ${conversationName(conv)}` : (message.sender?.display_name || 'hilo');
  const body = message.text || (message.attachments?.length ? `📎 ${message.attachments[0].name}` : t('notify.newMessage'));
  const n = new Notification(title, { body, tag: conv.id, icon: '/assets/icon.svg' });
  n.onclick = () => {
    window.focus();
    location.hash = `#/c/${encodeURIComponent(conv.id)}`;
    n.close();
  };
}

/** Asks for permission (from a click: browsers ignore the request otherwise). */
export async function askPermission() {
  if (typeof Notification === 'undefined') return 'unsupported';
  return Notification.requestPermission();
}

export function permission() {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

export function updateTitle() {
  const n = state.me ? totalUnread() : 0;
  const view = state.me && state.viewTitle ? `${state.viewTitle} · ` : '';
  document.title = `${n > 0 ? `(${n}) ` : ''}${view}hilo`;
}

on('conversations', updateTitle);
