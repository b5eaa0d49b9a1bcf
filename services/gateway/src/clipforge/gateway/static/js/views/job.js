// One job: live progress while it runs, its failure and a retry, or its clips and transcript.

import { api } from '../api.js';
import { h, icon, replace, toast } from '../dom.js';
import {
  STAGES,
  ago,
  bytes,
  clock,
  dateTime,
  eta,
  humanize,
  isTerminal,
  percent,
  safeHttpUrl,
  sourceLabel,
  span,
} from '../format.js';
import { summaryOf } from '../store.js';
import { confirmDialog } from './confirm.js';
import { emptyState, errorState, progressBar, statusBadge } from './parts.js';
import { transcriptPanel } from './transcript.js';

const STAGE_INDEX = Object.fromEntries(STAGES.map((stage, index) => [stage.id, index]));
const FAILED_WHILE = {
  queued: 'Could not be queued',
  ingest: 'Failed while downloading the video',
  transcribe: 'Failed while transcribing',
  analyze: 'Failed while finding highlights',
  render: 'Failed while rendering the clips',
};

/** Each stage's state: from the job document when it has ended, else from the live stage. */
function stageStates(view, live) {
  return STAGES.map((stage, index) => {
    const stored = view.stages?.[stage.id] ?? {};
    let status = stored.status ?? 'pending';
    if (!isTerminal(live.status) && live.stage in STAGE_INDEX) {
      const currentIndex = STAGE_INDEX[live.stage];
      status = index < currentIndex ? 'done' : index === currentIndex ? 'running' : 'pending';
    }
    return { ...stage, status, duration: stored.duration_seconds, attempt: stored.attempt };
  });
}

function stepper(states) {
  return h(
    'ol',
    { class: 'stepper', 'aria-label': 'Stages' },
    states.map((stage) =>
      h(
        'li',
        { class: ['step', `step-${stage.status}`], 'aria-current': stage.status === 'running' ? 'step' : null },
        h('span', { class: 'step-marker', 'aria-hidden': 'true' }, stage.status === 'done' ? icon('check', 'icon icon-xs') : stage.status === 'failed' ? icon('x', 'icon icon-xs') : null),
        h(
          'span',
          { class: 'step-text' },
          h('span', { class: 'step-label' }, stage.label),
          h(
            'span',
            { class: 'step-detail' },
            stage.status === 'done' && stage.duration !== null && stage.duration !== undefined
              ? span(stage.duration)
              : { running: 'in progress', failed: 'failed', pending: 'waiting', done: 'done' }[stage.status] ?? stage.status,
          ),
        ),
      ),
    ),
  );
}

function scoreMeter(score) {
  const fill = h('span', { class: 'score-fill' });
  fill.style.width = `${Math.max(0, Math.min(100, score))}%`;
  return h(
    'span',
    { class: 'score', title: 'How strong a highlight this is, from 0 to 100' },
    h('span', { class: 'score-label' }, 'Score'),
    h('span', { class: 'score-value' }, String(Math.round(score))),
    h('span', { class: 'score-track', 'aria-hidden': 'true' }, fill),
  );
}

function downloadLink(path, label, filename, extra = '') {
  const href = api.mediaUrl(path);
  if (!href) return null;
  return h('a', { class: 'btn btn-secondary btn-sm', href, download: filename }, icon('download'), label, extra ? h('span', { class: 'btn-extra' }, extra) : null);
}

function clipCard(view, clip, player) {
  const titleId = `clip-${clip.index}-title`;
  const title = clip.title || `Clip ${clip.index}`;
  const video = h('video', {
    class: 'clip-video',
    controls: true,
    preload: 'metadata',
    playsinline: true,
    src: api.mediaUrl(clip.url),
    poster: clip.thumbnail_url ? api.mediaUrl(clip.thumbnail_url) : null,
    'aria-labelledby': titleId,
    dataset: { clipIndex: String(clip.index) },
  });
  if (clip.width && clip.height) video.style.aspectRatio = `${clip.width} / ${clip.height}`;
  // Burned-in captions already show the words; otherwise offer the sidecar as a text track.
  if (!view.options?.captions && clip.vtt_url) {
    video.append(h('track', { kind: 'captions', src: api.mediaUrl(clip.vtt_url), srclang: view.transcript?.language || 'en', label: 'Captions' }));
  }
  player.attach(video, clip);

  const subScores = Object.entries(clip.sub_scores ?? {});
  const base = `${view.id}-clip-${String(clip.index).padStart(2, '0')}`;
  return h(
    'article',
    { class: 'clip-card card', 'aria-labelledby': titleId, dataset: { clipIndex: String(clip.index) } },
    h('div', { class: 'clip-media' }, video, h('span', { class: 'clip-rank' }, `#${clip.index}`)),
    h(
      'div',
      { class: 'clip-body' },
      h('h3', { id: titleId, class: 'clip-title' }, title),
      h(
        'div',
        { class: 'clip-meta' },
        scoreMeter(clip.score),
        h('span', { class: 'clip-time' }, `${clock(clip.start)}–${clock(clip.end)} · ${span(clip.duration_seconds)} · ${clip.width}×${clip.height}`),
      ),
      h('p', { class: 'clip-reason' }, clip.reason),
      clip.keywords?.length ? h('ul', { class: 'keywords', 'aria-label': 'Keywords' }, clip.keywords.map((word) => h('li', { class: 'keyword' }, word))) : null,
      subScores.length
        ? h(
            'details',
            { class: 'sub-scores' },
            h('summary', {}, 'Score breakdown'),
            h(
              'dl',
              {},
              subScores.map(([name, value]) => {
                const fill = h('span', { class: 'score-fill' });
                fill.style.width = `${Math.max(0, Math.min(100, value))}%`;
                return [h('dt', {}, humanize(name)), h('dd', {}, h('span', { class: 'score-track' }, fill), h('span', { class: 'sub-value' }, String(Math.round(value))))];
              }),
            ),
          )
        : null,
      h(
        'div',
        { class: 'clip-downloads', role: 'group', 'aria-label': `Downloads for ${title}` },
        downloadLink(clip.url, 'MP4', `${base}.mp4`, bytes(clip.size_bytes)),
        clip.srt_url ? downloadLink(clip.srt_url, 'SRT', `${base}.srt`) : null,
        clip.vtt_url ? downloadLink(clip.vtt_url, 'VTT', `${base}.vtt`) : null,
      ),
    ),
  );
}

/** Plays one clip at a time and drives the transcript highlight from the video's clock. */
function clipPlayer() {
  const videos = [];
  let transcript = null;
  let playing = null;
  let frame = 0;

  const tick = () => {
    if (!playing) return;
    transcript?.highlight(playing.clip.start + playing.video.currentTime);
    frame = requestAnimationFrame(tick);
  };

  return {
    setTranscript(panel) {
      transcript = panel;
      if (playing) panel.setRange(playing.clip.start, playing.clip.end);
    },
    attach(video, clip) {
      videos.push(video);
      video.addEventListener('play', () => {
        for (const other of videos) if (other !== video && !other.paused) other.pause();
        playing = { video, clip };
        transcript?.setRange(clip.start, clip.end);
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(tick);
      });
      // timeupdate keeps the highlight going where animation frames are throttled (background tabs).
      video.addEventListener('timeupdate', () => {
        if (playing?.video === video) transcript?.highlight(clip.start + video.currentTime);
      });
      video.addEventListener('pause', () => {
        if (playing?.video === video) cancelAnimationFrame(frame);
      });
    },
    /** A transcript word was clicked: jump there in the clip that is playing. */
    seek(sourceTime) {
      if (!playing) return;
      playing.video.currentTime = Math.max(0, sourceTime - playing.clip.start);
      if (playing.video.paused) playing.video.play().catch(() => {});
    },
    stop() {
      cancelAnimationFrame(frame);
      playing = null;
      for (const video of videos) video.pause();
    },
  };
}

export function jobView({ store, id, navigate }) {
  const element = h('div', { class: 'job-page', 'aria-busy': 'true' });
  const player = clipPlayer();
  let view = null;
  let transcriptState = 'idle'; // idle | loading | ready | missing | error
  let transcriptData = null;
  let transcriptError = null;
  let showTranscript = () => {}; // draws the transcript state into the section on the page now
  let destroyed = false;
  let reloading = false;
  const controller = new AbortController();

  // Pieces that change while the job runs; the rest is built once per full read.
  const progressSlot = h('div', { class: 'job-status-slot' });
  const stepperSlot = h('div', { class: 'stepper-slot' });
  const badgeSlot = h('span', { class: 'badge-slot' });
  const actionsSlot = h('div', { class: 'job-header-actions' });
  const bigBar = progressBar('Job progress', { size: 'lg' });

  async function load() {
    try {
      view = await api.getJob(id, { signal: controller.signal });
      store.merge(summaryOf(view));
      render();
    } catch (problem) {
      if (problem.name === 'AbortError' || destroyed) return;
      element.removeAttribute('aria-busy');
      replace(
        element,
        backLink(),
        problem.status === 404
          ? emptyState({ glyph: 'film', title: 'Job not found', text: 'It may have been deleted, or it belongs to another API key.', action: h('a', { class: 'btn btn-primary', href: '#/' }, 'See all jobs') })
          : errorState(problem, () => load()),
      );
    }
  }

  async function reload() {
    if (reloading || destroyed) return;
    reloading = true;
    try {
      const fresh = await store.refresh(id);
      if (fresh && !destroyed) {
        view = fresh;
        render();
      }
    } finally {
      reloading = false;
    }
  }

  function live() {
    return store.jobs.get(id) ?? summaryOf(view);
  }

  function backLink() {
    return h('a', { class: 'back-link', href: '#/' }, icon('back'), 'All jobs');
  }

  async function retry(button) {
    button.disabled = true;
    try {
      view = await api.retryJob(id);
      store.merge(summaryOf(view));
      toast('Retrying from the stage that failed.', 'success');
      render();
    } catch (problem) {
      toast(problem.detail || 'Could not retry the job.', 'error');
      button.disabled = false;
    }
  }

  async function cancel() {
    const ok = await confirmDialog({ title: 'Cancel this job?', text: 'The work in progress stops and its files are removed.', confirmLabel: 'Cancel job', danger: true });
    if (!ok) return;
    try {
      view = await api.cancelJob(id);
      store.merge(summaryOf(view));
      render();
    } catch (problem) {
      toast(problem.detail || 'Could not cancel the job.', 'error');
    }
  }

  async function remove() {
    const ok = await confirmDialog({ title: 'Delete this job?', text: 'The job, its clips and its transcript are deleted for good.', confirmLabel: 'Delete job', danger: true });
    if (!ok) return;
    try {
      await api.deleteJob(id);
      store.remove(id);
      toast('Job deleted.', 'success');
      navigate('#/');
    } catch (problem) {
      toast(problem.detail || 'Could not delete the job.', 'error');
    }
  }

  function updateLive() {
    const current = live();
    replace(badgeSlot, statusBadge(current.status));
    replace(stepperSlot, stepper(stageStates(view, current)));
    const actions = [];
    if (!isTerminal(current.status)) {
      actions.push(h('button', { class: 'btn btn-secondary', type: 'button', onclick: cancel }, icon('stop'), 'Cancel'));
    }
    actions.push(h('button', { class: 'btn btn-ghost btn-danger-text', type: 'button', onclick: remove }, icon('trash'), 'Delete'));
    replace(actionsSlot, actions);

    if (!isTerminal(current.status)) {
      bigBar.update(current.progress, current.status);
      replace(
        progressSlot,
        h(
          'section',
          { class: 'card status-card', 'aria-label': 'Progress' },
          h('div', { class: 'status-line' }, h('span', { class: 'status-message', role: 'status' }, current.message || 'Waiting for a worker…'), h('span', { class: 'status-percent' }, `${percent(current.progress)} %`)),
          bigBar,
          h('p', { class: 'status-eta' }, current.eta ? eta(current.eta) : 'Working out how long this takes…'),
        ),
      );
    } else if (current.status === 'failed') {
      const error = view.error ?? current.error ?? { stage: current.stage, code: 'failed', message: current.message };
      const button = h('button', { class: 'btn btn-primary', type: 'button', dataset: { action: 'retry' } }, icon('retry'), 'Retry job');
      button.addEventListener('click', () => retry(button));
      replace(
        progressSlot,
        h(
          'section',
          { class: 'card failure-card', role: 'alert', 'aria-labelledby': 'failure-title' },
          h('div', { class: 'failure-icon' }, icon('alert', 'icon icon-lg')),
          h(
            'div',
            { class: 'failure-body' },
            h('h2', { id: 'failure-title', class: 'failure-title' }, FAILED_WHILE[error.stage] ?? `Failed at ${error.stage}`),
            h('p', { class: 'failure-message' }, error.message),
            h('p', { class: 'failure-code' }, 'Stage ', h('code', {}, error.stage), ' · code ', h('code', { class: 'error-code' }, error.code)),
            h('div', { class: 'failure-actions' }, button, h('span', { class: 'hint' }, 'Starts again from the stage that failed; earlier results are kept.')),
          ),
        ),
      );
    } else if (current.status === 'cancelled') {
      replace(progressSlot, h('p', { class: 'notice' }, 'This job was cancelled.'));
    } else {
      replace(progressSlot);
    }
  }

  function clipsSection() {
    if (view.status !== 'completed') return null;
    const clips = view.clips ?? [];
    return h(
      'section',
      { class: 'clips-section', 'aria-labelledby': 'clips-title' },
      h('div', { class: 'section-header' }, h('h2', { id: 'clips-title', class: 'section-title' }, `${clips.length} ${clips.length === 1 ? 'clip' : 'clips'}`), h('p', { class: 'section-hint' }, 'Best first. Play one to follow along in the transcript.')),
      clips.length
        ? h('div', { class: ['clip-grid', clips[0].height > clips[0].width && 'is-portrait'] }, clips.map((clip) => clipCard(view, clip, player)))
        : emptyState({ glyph: 'film', title: 'No clips', text: 'No moment in this video stood out as a highlight.' }),
    );
  }

  function transcriptSection() {
    const slot = h('div', { class: 'transcript-slot' });
    const downloads = h(
      'div',
      { class: 'transcript-downloads' },
      view.transcript ? downloadLink(`/v1/jobs/${encodeURIComponent(id)}/transcript?format=srt`, 'SRT', `${id}-transcript.srt`) : null,
      view.transcript ? downloadLink(`/v1/jobs/${encodeURIComponent(id)}/transcript?format=vtt`, 'VTT', `${id}-transcript.vtt`) : null,
    );
    const section = h(
      'section',
      { class: 'card transcript-card', 'aria-labelledby': 'transcript-title' },
      h('div', { class: 'card-header' }, h('h2', { id: 'transcript-title', class: 'card-title' }, 'Transcript'), downloads),
      view.transcript ? h('p', { class: 'card-subtitle' }, `${view.transcript.word_count} words · ${view.transcript.language}`) : null,
      slot,
    );
    const show = () => {
      if (transcriptState === 'ready') {
        const panel = transcriptPanel(transcriptData, { onSeek: (time) => player.seek(time) });
        player.setTranscript(panel);
        replace(slot, panel.element);
      } else if (transcriptState === 'loading') {
        replace(slot, h('div', { class: 'skeleton-lines', 'aria-label': 'Loading the transcript' }, [1, 2, 3, 4].map(() => h('div', { class: 'skeleton skeleton-line' }))));
      } else if (transcriptState === 'error') {
        replace(slot, errorState(transcriptError, () => fetchTranscript()));
      } else {
        replace(slot, h('p', { class: 'muted' }, isTerminal(view.status) ? 'This job has no transcript.' : 'The transcript appears here once the speech has been transcribed.'));
      }
    };
    showTranscript = show;
    if (view.transcript && transcriptState === 'idle') fetchTranscript();
    show();
    return section;
  }

  async function fetchTranscript() {
    transcriptState = 'loading';
    showTranscript();
    try {
      transcriptData = await api.transcript(id, { signal: controller.signal });
      transcriptState = 'ready';
    } catch (problem) {
      if (problem.name === 'AbortError' || destroyed) return;
      transcriptError = problem;
      transcriptState = problem.status === 409 ? 'missing' : 'error';
    }
    if (!destroyed) showTranscript();
  }

  function detailsSection() {
    const rows = [];
    const add = (term, value) => value !== null && value !== undefined && value !== '' && rows.push(h('dt', {}, term), h('dd', {}, value));
    const link = view.source?.kind === 'url' ? safeHttpUrl(view.source.url) : null;
    add('Source', link ? h('a', { href: link, target: '_blank', rel: 'noopener noreferrer', class: 'break' }, view.source.url) : view.source?.filename);
    add('Created', h('time', { datetime: view.created_at, title: dateTime(view.created_at) }, ago(view.created_at)));
    if (view.finished_at) add('Finished', h('time', { datetime: view.finished_at, title: dateTime(view.finished_at) }, dateTime(view.finished_at)));
    const media = view.media;
    if (media) {
      add('Length', clock(media.duration_seconds));
      if (media.width && media.height) add('Picture', `${media.width}×${media.height}${media.fps ? ` · ${Math.round(media.fps)} fps` : ''} · ${media.video_codec ?? 'no video'}`);
      add('Sound', media.audio_codec ?? 'none');
      add('File size', bytes(media.size_bytes));
    }
    const options = view.options ?? {};
    add('Options', `up to ${options.max_clips} clips, ${options.min_clip_seconds}–${options.max_clip_seconds} s, ${options.aspect}, ${options.captions ? `${options.caption_style} captions` : 'no captions'}${options.language ? `, ${options.language}` : ''}`);
    add('Priority', view.priority);
    if (view.analysis) add('Highlights by', `${view.analysis.scorer}${view.analysis.degraded ? ' (degraded: ' + (view.analysis.detail ?? 'fallback scorer') + ')' : ''}`);
    if (view.retries) add('Retries', String(view.retries));
    const copy = h('button', { class: 'btn btn-ghost btn-icon', type: 'button', 'aria-label': 'Copy job id' }, icon('copy'));
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(id);
        toast('Job id copied.', 'success');
      } catch {
        toast(id);
      }
    });
    add('Job id', h('span', { class: 'id-row' }, h('code', { class: 'mono' }, id), copy));
    return h('section', { class: 'card details-card', 'aria-labelledby': 'details-title' }, h('h2', { id: 'details-title', class: 'card-title' }, 'Details'), h('dl', { class: 'details' }, rows));
  }

  function render() {
    if (destroyed) return;
    player.stop();
    element.removeAttribute('aria-busy');
    element.dataset.status = view.status;
    const label = sourceLabel(view.source);
    document.title = `${label} · ClipForge`;
    updateLive();
    replace(
      element,
      backLink(),
      h(
        'header',
        { class: 'job-header' },
        h('div', { class: 'job-header-text' }, h('h1', { class: 'job-page-title' }, label), h('p', { class: 'job-header-meta' }, badgeSlot, h('span', {}, `Started ${ago(view.created_at)}`), view.priority === 'batch' ? h('span', {}, 'Batch') : null)),
        actionsSlot,
      ),
      stepperSlot,
      progressSlot,
      columns(),
    );
  }

  function columns() {
    const mainContent = clipsSection() ?? previewSection();
    // A job that ended without a transcript has nothing to show there.
    const transcript = view.transcript || !isTerminal(view.status) ? transcriptSection() : null;
    return h(
      'div',
      { class: ['job-columns', !mainContent && 'is-single'] },
      mainContent ? h('div', { class: 'job-main' }, mainContent) : null,
      h('div', { class: 'job-side' }, transcript, detailsSection()),
    );
  }

  function previewSection() {
    if (isTerminal(view.status)) return null;
    return h(
      'section',
      { class: 'card placeholder-card' },
      emptyState({ glyph: 'film', title: 'Clips are on their way', text: 'They appear here when rendering ends. You can leave this page: the job keeps running.' }),
    );
  }

  const onChange = (event) => {
    if (event.detail.id !== id || !view) return;
    const current = live();
    if (isTerminal(current.status) !== isTerminal(view.status) || (current.status === 'queued' && view.status === 'failed')) {
      reload();
    } else if ((current.stage === 'analyze' || current.stage === 'render') && !view.transcript) {
      // The transcript exists from the analyze stage on: read it once.
      reload();
    } else {
      updateLive();
    }
  };
  store.addEventListener('change', onChange);
  load();

  return {
    element,
    destroy() {
      destroyed = true;
      controller.abort();
      player.stop();
      store.removeEventListener('change', onChange);
      document.title = 'ClipForge';
    },
  };
}
