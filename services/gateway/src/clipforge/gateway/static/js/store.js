// The tenant's jobs as the page knows them: the listed pages from GET /v1/jobs, kept current by
// the live stream. Each job's ``seq`` orders its changes; an older change never overwrites a
// newer one. Listeners get 'change' (detail: {id}) for one job and 'list' for the whole list.

import { api } from './api.js';
import { ACTIVE_STATUSES, isTerminal } from './format.js';

export const FILTERS = {
  all: { label: 'All', statuses: [] },
  active: { label: 'In progress', statuses: ACTIVE_STATUSES },
  completed: { label: 'Completed', statuses: ['completed'] },
  failed: { label: 'Failed', statuses: ['failed'] },
};

const PAGE_SIZE = 20;

/** The list item of a job from its full view (GET /v1/jobs/{id}). */
export function summaryOf(view) {
  return {
    id: view.id,
    status: view.status,
    stage: view.stage,
    progress: view.progress,
    message: view.message,
    priority: view.priority,
    source: view.source,
    clip_count: (view.clips ?? []).length,
    error: view.error ?? null,
    created_at: view.created_at,
    finished_at: view.finished_at ?? null,
    seq: view.seq,
  };
}

export class JobStore extends EventTarget {
  constructor(live) {
    super();
    this.jobs = new Map();
    this.listed = new Set(); // ids that belong in the list under the current filter
    this.filter = 'all';
    this.nextCursor = null;
    this.state = 'idle'; // idle | loading | ready | error
    this.error = null;
    this.fetching = new Map(); // id -> promise of a refresh in flight
    this.generation = 0;
    live.addEventListener('snapshot', (event) => this.onSnapshot(event.detail));
    live.addEventListener('progress', (event) => this.onProgress(event.detail));
  }

  /** The listed jobs, newest first (ids are time-ordered, as the API sorts them). */
  get items() {
    return [...this.listed]
      .map((id) => this.jobs.get(id))
      .filter((job) => job && this.matches(job))
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  matches(job) {
    const { statuses } = FILTERS[this.filter];
    return statuses.length === 0 || statuses.includes(job.status);
  }

  async load(filter = this.filter) {
    const generation = ++this.generation;
    this.filter = filter;
    this.state = 'loading';
    this.error = null;
    this.emitList();
    try {
      const page = await api.listJobs({ statuses: FILTERS[filter].statuses, limit: PAGE_SIZE });
      if (generation !== this.generation) return;
      this.listed = new Set();
      this.absorb(page);
      this.state = 'ready';
    } catch (error) {
      if (generation !== this.generation) return;
      this.state = 'error';
      this.error = error;
    }
    this.emitList();
  }

  async loadMore() {
    if (!this.nextCursor) return;
    const generation = this.generation;
    const page = await api.listJobs({
      statuses: FILTERS[this.filter].statuses,
      cursor: this.nextCursor,
      limit: PAGE_SIZE,
    });
    if (generation !== this.generation) return;
    this.absorb(page);
    this.emitList();
  }

  absorb(page) {
    for (const item of page.items) {
      this.merge(item);
      this.listed.add(item.id);
    }
    this.nextCursor = page.next_cursor;
  }

  /**
   * Take what a read of the database says about a job. A list item has no ``seq``, so live
   * fields already set by a newer event are kept.
   */
  merge(item) {
    const known = this.jobs.get(item.id);
    if (known && known.seq !== undefined && (item.seq === undefined || item.seq < known.seq)) {
      const { status, stage, progress, message, seq, eta } = known;
      this.jobs.set(item.id, { ...item, status, stage, progress, message, seq, eta });
    } else {
      this.jobs.set(item.id, { ...known, ...item });
    }
  }

  remove(id) {
    this.jobs.delete(id);
    this.listed.delete(id);
    this.emitList();
  }

  /** Read the job again (after it ended, or when the stream names a job this page has not seen). */
  refresh(id) {
    if (this.fetching.has(id)) return this.fetching.get(id);
    const request = api
      .getJob(id)
      .then((view) => {
        this.merge(summaryOf(view));
        if (this.matches(this.jobs.get(id))) this.listed.add(id);
        this.emitChange(id);
        this.emitList();
        return view;
      })
      .catch((error) => {
        if (error.status === 404) this.remove(id);
        return null;
      })
      .finally(() => this.fetching.delete(id));
    this.fetching.set(id, request);
    return request;
  }

  onProgress(message) {
    const id = message.job_id;
    const known = this.jobs.get(id);
    if (!known) {
      this.refresh(id); // a job started elsewhere (another tab, the CLI, the API)
      return;
    }
    if (known.seq !== undefined && message.seq <= known.seq) return;
    const update = {
      status: message.status,
      stage: message.stage,
      progress: message.percent,
      message: message.message,
      seq: message.seq,
      eta: message.job_eta_seconds ?? null,
    };
    if (message.status !== 'failed') update.error = null;
    this.jobs.set(id, { ...known, ...update });
    this.emitChange(id);
    if (isTerminal(message.status) || message.status === 'queued') this.refresh(id);
    if (this.listed.has(id) || this.matches(this.jobs.get(id))) {
      this.listed.add(id);
      this.emitList();
    }
  }

  /** A fresh stream (or one whose cursor was too old): the tenant's unfinished jobs as they are now. */
  onSnapshot(message) {
    const active = new Set();
    for (const job of message.jobs) {
      active.add(job.id);
      const known = this.jobs.get(job.id);
      if (!known) {
        this.refresh(job.id);
        continue;
      }
      if (known.seq !== undefined && job.seq <= known.seq) continue;
      this.jobs.set(job.id, {
        ...known,
        status: job.status,
        stage: job.stage,
        progress: job.progress,
        message: job.message,
        seq: job.seq,
      });
      this.emitChange(job.id);
    }
    // Jobs this page still thinks are running but the snapshot no longer lists have ended.
    for (const job of this.jobs.values()) {
      if (!isTerminal(job.status) && !active.has(job.id)) this.refresh(job.id);
    }
    this.emitList();
  }

  emitChange(id) {
    this.dispatchEvent(new CustomEvent('change', { detail: { id } }));
  }

  emitList() {
    this.dispatchEvent(new CustomEvent('list'));
  }
}
