// Small pieces shared by the views: status badges, progress bars, empty and error states.

import { h, icon } from '../dom.js';
import { STATUS_LABELS, isTerminal, percent } from '../format.js';

export function statusBadge(status) {
  return h('span', { class: ['badge', `badge-${status}`], dataset: { status } }, h('span', { class: 'badge-dot', 'aria-hidden': 'true' }), STATUS_LABELS[status] ?? status);
}

/** A progress bar; ``update(value, status)`` moves it (the width animates in CSS). */
export function progressBar(label, { size = '' } = {}) {
  const fill = h('div', { class: 'progress-fill' });
  const bar = h(
    'div',
    {
      class: ['progress', size && `progress-${size}`],
      role: 'progressbar',
      'aria-label': label,
      'aria-valuemin': '0',
      'aria-valuemax': '100',
      'aria-valuenow': '0',
    },
    fill,
  );
  bar.update = (value, status) => {
    const shown = percent(value);
    bar.setAttribute('aria-valuenow', String(shown));
    bar.setAttribute('aria-valuetext', `${shown} %`);
    bar.dataset.status = status;
    bar.classList.toggle('is-running', !isTerminal(status));
    fill.style.width = `${status === 'failed' || status === 'cancelled' ? Math.max(shown, 2) : shown}%`;
  };
  return bar;
}

export function emptyState({ glyph = 'film', title, text, action = null }) {
  return h(
    'div',
    { class: 'empty-state' },
    h('div', { class: 'empty-icon' }, icon(glyph, 'icon icon-lg')),
    h('h3', { class: 'empty-title' }, title),
    text ? h('p', { class: 'empty-text' }, text) : null,
    action,
  );
}

export function errorState(problem, onRetry) {
  return h(
    'div',
    { class: 'error-state', role: 'alert' },
    h('div', { class: 'empty-icon is-error' }, icon('alert', 'icon icon-lg')),
    h('h3', { class: 'empty-title' }, problem.title || 'Something went wrong'),
    h('p', { class: 'empty-text' }, problem.detail || String(problem.message || problem)),
    onRetry ? h('button', { class: 'btn btn-secondary', type: 'button', onclick: onRetry }, icon('retry'), 'Try again') : null,
  );
}

export function skeletonRows(count = 3) {
  return h(
    'ul',
    { class: 'job-list', 'aria-busy': 'true', 'aria-label': 'Loading jobs' },
    Array.from({ length: count }, () =>
      h('li', { class: 'job-row is-skeleton' }, h('div', { class: 'skeleton skeleton-title' }), h('div', { class: 'skeleton skeleton-bar' })),
    ),
  );
}
