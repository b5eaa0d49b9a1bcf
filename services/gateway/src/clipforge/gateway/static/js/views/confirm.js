// A yes/no question in the page's <dialog> (instead of window.confirm, which cannot be styled).

import { h, replace } from '../dom.js';

export function confirmDialog({ title, text, confirmLabel, danger = false }) {
  const dialog = document.getElementById('confirm-dialog');
  return new Promise((resolve) => {
    const cancel = h('button', { class: 'btn btn-secondary', type: 'button', value: 'cancel' }, 'Keep it');
    const confirm = h('button', { class: ['btn', danger ? 'btn-danger' : 'btn-primary'], type: 'button', value: 'ok' }, confirmLabel);
    replace(
      dialog,
      h(
        'div',
        { class: 'dialog-body' },
        h('h2', { id: 'confirm-dialog-title', class: 'dialog-title' }, title),
        h('p', { class: 'dialog-text' }, text),
        h('div', { class: 'form-actions' }, h('span', { class: 'spacer' }), cancel, confirm),
      ),
    );
    const finish = (answer) => {
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onClose = () => finish(false);
    dialog.addEventListener('close', onClose);
    cancel.addEventListener('click', () => finish(false));
    confirm.addEventListener('click', () => finish(true));
    dialog.showModal();
    cancel.focus();
  });
}
