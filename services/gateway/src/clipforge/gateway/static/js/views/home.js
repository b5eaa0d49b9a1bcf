// The home page: the new-job form and the live job list.

import { api } from '../api.js';
import { h, icon, replace, toast } from '../dom.js';
import { ago, eta, humanize, isTerminal, percent, sourceLabel } from '../format.js';
import { FILTERS } from '../store.js';
import { emptyState, errorState, progressBar, skeletonRows, statusBadge } from './parts.js';
import { submitForm } from './submit.js';

function jobRow(job, onRetry) {
  const label = sourceLabel(job.source);
  const bar = progressBar(`Progress of ${label}`);
  const badgeSlot = h('span', { class: 'job-badge' });
  const meta = h('p', { class: 'job-meta' });
  const message = h('span', { class: 'job-message' });
  const amount = h('span', { class: 'job-percent' });
  const actions = h('div', { class: 'job-actions' });
  const row = h(
    'li',
    { class: 'job-row', dataset: { jobId: job.id } },
    h(
      'a',
      { class: 'job-link', href: `#/jobs/${encodeURIComponent(job.id)}` },
      h(
        'div',
        { class: 'job-heading' },
        h('span', { class: 'job-kind' }, icon(job.source?.kind === 'upload' ? 'file' : 'link')),
        h('span', { class: 'job-title' }, label),
        badgeSlot,
      ),
      meta,
      h('div', { class: 'job-progress' }, bar, h('div', { class: 'job-progress-text' }, message, amount)),
    ),
    actions,
  );

  row.update = (current) => {
    row.dataset.status = current.status;
    replace(badgeSlot, statusBadge(current.status));
    bar.update(current.progress, current.status);
    const parts = [ago(current.created_at)];
    if (current.priority === 'batch') parts.push('batch');
    if (current.status === 'completed') parts.push(`${current.clip_count} ${current.clip_count === 1 ? 'clip' : 'clips'}`);
    meta.textContent = parts.filter(Boolean).join(' · ');
    if (current.status === 'failed' && current.error) {
      const reason = humanize(current.error.code);
      message.textContent = `${reason.charAt(0).toUpperCase()}${reason.slice(1)}: ${current.error.message}`;
    } else if (!isTerminal(current.status) && current.eta) {
      message.textContent = `${current.message || ''} · ${eta(current.eta)}`;
    } else {
      message.textContent = current.message || '';
    }
    message.classList.toggle('is-error', current.status === 'failed');
    amount.textContent = current.status === 'failed' || current.status === 'cancelled' ? '' : `${percent(current.progress)} %`;
    replace(
      actions,
      current.status === 'failed'
        ? h('button', { class: 'btn btn-secondary btn-sm', type: 'button', onclick: () => onRetry(current.id, label) }, icon('retry'), 'Retry')
        : null,
    );
  };
  row.update(job);
  return row;
}

export function homeView({ store }) {
  const rows = new Map();
  const listSlot = h('div', { class: 'job-list-slot' });
  const more = h('button', { class: 'btn btn-secondary btn-block', type: 'button', hidden: true }, 'Show older jobs');
  const counter = h('span', { class: 'count', 'aria-live': 'polite' });
  const filterButtons = Object.entries(FILTERS).map(([id, filter]) =>
    h(
      'button',
      {
        class: 'chip',
        type: 'button',
        'aria-pressed': String(store.filter === id),
        dataset: { filter: id },
        onclick: () => {
          for (const button of filterButtons) button.setAttribute('aria-pressed', String(button.dataset.filter === id));
          rows.clear();
          store.load(id);
        },
      },
      filter.label,
    ),
  );

  async function retry(id, label) {
    try {
      await api.retryJob(id);
      toast(`Retrying ${label}.`, 'success');
      store.refresh(id);
    } catch (problem) {
      toast(problem.detail || 'Could not retry the job.', 'error');
    }
  }

  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      await store.loadMore();
    } catch (problem) {
      toast(problem.detail || 'Could not load older jobs.', 'error');
    } finally {
      more.disabled = false;
    }
  });

  const jobsSection = h(
    'section',
    { class: 'card jobs-card', 'aria-labelledby': 'jobs-title' },
    h('div', { class: 'card-header' }, h('h2', { id: 'jobs-title', class: 'card-title' }, 'Jobs ', counter), h('div', { class: 'chips', role: 'group', 'aria-label': 'Show' }, filterButtons)),
    listSlot,
    more,
  );

  function renderList() {
    more.hidden = !store.nextCursor || store.state !== 'ready';
    if (store.state === 'loading' && rows.size === 0) {
      replace(listSlot, skeletonRows());
      return;
    }
    if (store.state === 'error') {
      rows.clear();
      replace(listSlot, errorState(store.error, () => store.load()));
      return;
    }
    const items = store.items;
    counter.textContent = items.length ? `(${items.length}${store.nextCursor ? '+' : ''})` : '';
    if (items.length === 0) {
      rows.clear();
      const all = store.filter === 'all';
      replace(
        listSlot,
        emptyState({
          glyph: all ? 'film' : 'spark',
          title: all ? 'No jobs yet' : `No ${FILTERS[store.filter].label.toLowerCase()} jobs`,
          text: all ? 'Paste a link or drop a video on the left, and your clips will show up here as they are made.' : 'Jobs appear here as soon as one matches.',
        }),
      );
      return;
    }
    let list = listSlot.querySelector('ul.job-list:not([aria-busy])');
    if (!list) {
      list = h('ul', { class: 'job-list', 'aria-label': 'Jobs, newest first' });
      replace(listSlot, list);
    }
    const wanted = new Set(items.map((job) => job.id));
    for (const [id, row] of rows) {
      if (!wanted.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
    items.forEach((job, index) => {
      let row = rows.get(job.id);
      if (!row) {
        row = jobRow(job, retry);
        rows.set(job.id, row);
      }
      if (list.children[index] !== row) list.insertBefore(row, list.children[index] ?? null);
    });
  }

  const onList = () => renderList();
  const onChange = (event) => {
    const row = rows.get(event.detail.id);
    const job = store.jobs.get(event.detail.id);
    if (row && job) row.update(job);
  };
  store.addEventListener('list', onList);
  store.addEventListener('change', onChange);
  // Relative times ("2 minutes ago") stay true while the page is open.
  const clock = setInterval(() => {
    for (const [id, row] of rows) {
      const job = store.jobs.get(id);
      if (job) row.update(job);
    }
  }, 30000);

  const form = submitForm({
    onCreated: (created) => {
      if (store.filter !== 'all' && store.filter !== 'active') {
        for (const button of filterButtons) button.setAttribute('aria-pressed', String(button.dataset.filter === 'all'));
        store.load('all');
      }
      store.refresh(created.id);
    },
  });

  const element = h(
    'div',
    { class: 'home-grid' },
    h('h1', { class: 'visually-hidden' }, 'ClipForge: your jobs'),
    h('div', { class: 'home-form' }, form),
    jobsSection,
  );
  if (store.state === 'idle' || store.state === 'error') store.load();
  renderList();

  return {
    element,
    destroy() {
      store.removeEventListener('list', onList);
      store.removeEventListener('change', onChange);
      clearInterval(clock);
    },
  };
}
