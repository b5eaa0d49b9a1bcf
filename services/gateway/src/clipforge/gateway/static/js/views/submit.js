// The new-job form: a link or a file (picked or dropped), with the job options.

import { api } from '../api.js';
import { h, icon, replace, toast } from '../dom.js';
import { bytes } from '../format.js';

const OPTIONS_KEY = 'clipforge.options';
const DEFAULTS = {
  max_clips: 5,
  min_clip_seconds: 15,
  max_clip_seconds: 60,
  aspect: 'original',
  captions: true,
  caption_style: 'bold',
  language: '',
  priority: 'interactive',
};
const ASPECTS = [
  ['original', 'Original frame'],
  ['9:16', '9:16 vertical (Shorts, Reels, TikTok)'],
  ['1:1', '1:1 square'],
  ['16:9', '16:9 landscape'],
];
const STYLES = [
  ['bold', 'Bold'],
  ['clean', 'Clean'],
  ['karaoke', 'Karaoke'],
];
const LANGUAGES = [
  ['', 'Auto-detect'],
  ['en', 'English'],
  ['es', 'Spanish'],
  ['fr', 'French'],
  ['de', 'German'],
  ['it', 'Italian'],
  ['pt', 'Portuguese'],
  ['nl', 'Dutch'],
  ['ja', 'Japanese'],
];

function savedOptions() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(OPTIONS_KEY) || '{}') };
  } catch {
    return { ...DEFAULTS };
  }
}

function rememberOptions(values) {
  try {
    localStorage.setItem(OPTIONS_KEY, JSON.stringify(values));
  } catch {
    // not remembered: fine
  }
}

function select(id, name, choices, value) {
  return h(
    'select',
    { id, name, class: 'input', dataset: { field: name } },
    choices.map(([choice, label]) => h('option', { value: choice, selected: choice === value }, label)),
  );
}

function field(id, label, control, hint = null) {
  return h(
    'div',
    { class: 'field', dataset: { for: control.dataset.field } },
    h('label', { class: 'label', for: id }, label),
    control,
    hint ? h('p', { class: 'hint' }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error` }),
  );
}

function numberInput(id, name, value, min, max, step = 1) {
  return h('input', {
    id,
    name,
    class: 'input',
    type: 'number',
    inputmode: 'decimal',
    min,
    max,
    step,
    value: String(value),
    required: true,
    dataset: { field: name },
    'aria-describedby': `${id}-error`,
  });
}

/** ``onCreated(job)`` with the 202 body of POST /v1/jobs or /v1/jobs/upload. */
export function submitForm({ onCreated }) {
  const initial = savedOptions();
  let mode = 'url';
  let file = null;

  // Source: link or file.
  const urlInput = h('input', {
    id: 'source-url',
    name: 'url',
    class: 'input input-lg',
    type: 'url',
    inputmode: 'url',
    autocomplete: 'url',
    placeholder: 'https://www.youtube.com/watch?v=…',
    dataset: { field: 'url' },
    'aria-describedby': 'source-url-error',
  });
  const fileInput = h('input', {
    id: 'source-file',
    name: 'file',
    class: 'visually-hidden',
    type: 'file',
    accept: 'video/*,audio/*,.mkv,.mov,.mp4,.webm,.m4a,.mp3,.wav',
    dataset: { field: 'file' },
    'aria-describedby': 'source-file-error',
  });
  const chosen = h('div', { class: 'chosen-file', hidden: true });
  const dropzone = h(
    'label',
    { class: 'dropzone', for: 'source-file' },
    icon('upload', 'icon icon-lg'),
    h('span', { class: 'dropzone-title' }, 'Drop a video here, or ', h('span', { class: 'link' }, 'choose a file')),
    h('span', { class: 'dropzone-hint' }, 'MP4, MOV, MKV, WebM or audio · up to 2 GB'),
  );

  const tabs = [
    { id: 'url', label: 'Paste a link', glyph: 'link' },
    { id: 'file', label: 'Upload a file', glyph: 'file' },
  ];
  const tabButtons = tabs.map((tab) =>
    h(
      'button',
      {
        class: 'tab',
        type: 'button',
        role: 'tab',
        id: `tab-${tab.id}`,
        'aria-controls': `panel-${tab.id}`,
        'aria-selected': String(tab.id === mode),
        tabindex: tab.id === mode ? '0' : '-1',
        onclick: () => setMode(tab.id, true),
      },
      icon(tab.glyph),
      tab.label,
    ),
  );
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Where the video comes from' }, tabButtons);
  tablist.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
    event.preventDefault();
    setMode(mode === 'url' ? 'file' : 'url', true);
  });
  const urlPanel = h(
    'div',
    { class: 'tab-panel', role: 'tabpanel', id: 'panel-url', 'aria-labelledby': 'tab-url' },
    h('label', { class: 'label', for: 'source-url' }, 'Video link'),
    urlInput,
    h('p', { class: 'hint' }, 'YouTube or any page or file yt-dlp can read.'),
    h('p', { class: 'field-error', id: 'source-url-error' }),
  );
  const filePanel = h(
    'div',
    { class: 'tab-panel', role: 'tabpanel', id: 'panel-file', 'aria-labelledby': 'tab-file', hidden: true },
    fileInput,
    dropzone,
    chosen,
    h('p', { class: 'field-error', id: 'source-file-error' }),
  );

  function setMode(next, focus = false) {
    mode = next;
    tabButtons.forEach((button, index) => {
      const selected = tabs[index].id === mode;
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      if (selected && focus) button.focus();
    });
    urlPanel.hidden = mode !== 'url';
    filePanel.hidden = mode !== 'file';
  }

  function setFile(next) {
    file = next;
    dropzone.hidden = Boolean(file);
    chosen.hidden = !file;
    if (!file) {
      fileInput.value = '';
      return;
    }
    replace(
      chosen,
      icon('film', 'icon icon-md'),
      h('span', { class: 'chosen-name' }, file.name),
      h('span', { class: 'chosen-size' }, bytes(file.size)),
      h(
        'button',
        { class: 'btn btn-ghost btn-icon', type: 'button', 'aria-label': `Remove ${file.name}`, onclick: () => setFile(null) },
        icon('x'),
      ),
    );
  }

  fileInput.addEventListener('change', () => setFile(fileInput.files[0] ?? null));

  // Options.
  const maxClips = numberInput('opt-max-clips', 'max_clips', initial.max_clips, 1, 20);
  const minLength = numberInput('opt-min-length', 'min_clip_seconds', initial.min_clip_seconds, 3, 600);
  const maxLength = numberInput('opt-max-length', 'max_clip_seconds', initial.max_clip_seconds, 3, 600);
  const aspect = select('opt-aspect', 'aspect', ASPECTS, initial.aspect);
  const language = select('opt-language', 'language', LANGUAGES, initial.language);
  const priority = select(
    'opt-priority',
    'priority',
    [
      ['interactive', 'Interactive'],
      ['batch', 'Batch (when idle)'],
    ],
    initial.priority,
  );
  const captions = h('input', {
    id: 'opt-captions',
    name: 'captions',
    type: 'checkbox',
    role: 'switch',
    class: 'switch-input',
    checked: Boolean(initial.captions),
    dataset: { field: 'captions' },
  });
  const captionStyle = select('opt-caption-style', 'caption_style', STYLES, initial.caption_style);
  const syncCaptions = () => {
    captionStyle.disabled = !captions.checked;
  };
  captions.addEventListener('change', syncCaptions);
  syncCaptions();

  const options = h(
    'fieldset',
    { class: 'options' },
    h('legend', { class: 'options-legend' }, 'Clip options'),
    h(
      'div',
      { class: 'options-grid' },
      field('opt-max-clips', 'Max clips', maxClips),
      field('opt-min-length', 'Min seconds', minLength),
      field('opt-max-length', 'Max seconds', maxLength),
      field('opt-aspect', 'Frame', aspect),
      field('opt-language', 'Spoken language', language),
      field('opt-priority', 'Priority', priority),
    ),
    h(
      'div',
      { class: 'captions-row' },
      h('label', { class: 'switch', for: 'opt-captions' }, captions, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), 'Burn in captions'),
      h(
        'div',
        { class: 'field field-inline', dataset: { for: 'caption_style' } },
        h('label', { class: 'label', for: 'opt-caption-style' }, 'Style'),
        captionStyle,
        h('p', { class: 'field-error', id: 'opt-caption-style-error' }),
      ),
    ),
  );

  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const uploadBar = h('div', { class: 'progress progress-sm', hidden: true }, h('div', { class: 'progress-fill' }));
  const uploadFill = uploadBar.firstChild;
  const submit = h('button', { class: 'btn btn-primary btn-block btn-lg', type: 'submit' }, icon('spark'), 'Create clips');

  const form = h(
    'form',
    { class: 'card submit-card', novalidate: true, 'aria-labelledby': 'submit-title' },
    h('h2', { id: 'submit-title', class: 'card-title' }, 'New job'),
    tablist,
    urlPanel,
    filePanel,
    options,
    formError,
    uploadBar,
    submit,
  );

  // Drag and drop anywhere on the card.
  let dragDepth = 0;
  form.addEventListener('dragenter', (event) => {
    if (!event.dataTransfer?.types?.includes('Files')) return;
    event.preventDefault();
    dragDepth += 1;
    setMode('file');
    form.classList.add('is-dragging');
  });
  form.addEventListener('dragover', (event) => {
    if (event.dataTransfer?.types?.includes('Files')) event.preventDefault();
  });
  form.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) form.classList.remove('is-dragging');
  });
  form.addEventListener('drop', (event) => {
    event.preventDefault();
    dragDepth = 0;
    form.classList.remove('is-dragging');
    const dropped = event.dataTransfer?.files?.[0];
    if (dropped) setFile(dropped);
  });

  function clearErrors() {
    formError.hidden = true;
    replace(formError);
    for (const element of form.querySelectorAll('.field-error')) element.textContent = '';
    for (const element of form.querySelectorAll('[aria-invalid]')) element.removeAttribute('aria-invalid');
  }

  function fieldError(name, message) {
    const control = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!control) return false;
    control.setAttribute('aria-invalid', 'true');
    const slot = document.getElementById(`${control.id}-error`);
    if (slot) slot.textContent = message;
    return true;
  }

  function showProblem(problem) {
    let placed = false;
    for (const error of problem.errors ?? []) {
      const name = String(error.field || '').replace(/^options\./, '');
      placed = fieldError(name, error.message) || placed;
    }
    formError.hidden = false;
    replace(formError, icon('alert'), h('div', {}, h('strong', {}, problem.title || 'Could not start the job'), h('p', {}, problem.detail)));
    if (placed) form.querySelector('[aria-invalid="true"]')?.focus();
  }

  function readOptions() {
    const values = {
      max_clips: Number(maxClips.value),
      min_clip_seconds: Number(minLength.value),
      max_clip_seconds: Number(maxLength.value),
      aspect: aspect.value,
      captions: captions.checked,
      caption_style: captionStyle.value,
    };
    if (language.value) values.language = language.value;
    return values;
  }

  function validate(values) {
    let ok = true;
    const check = (condition, name, message) => {
      if (!condition) ok = fieldError(name, message) && false;
    };
    check(Number.isInteger(values.max_clips) && values.max_clips >= 1 && values.max_clips <= 20, 'max_clips', 'From 1 to 20.');
    check(values.min_clip_seconds >= 3 && values.min_clip_seconds <= 600, 'min_clip_seconds', 'From 3 to 600 seconds.');
    check(values.max_clip_seconds >= 3 && values.max_clip_seconds <= 600, 'max_clip_seconds', 'From 3 to 600 seconds.');
    check(values.min_clip_seconds <= values.max_clip_seconds, 'max_clip_seconds', 'Must not be shorter than the shortest clip.');
    if (mode === 'url') {
      const url = urlInput.value.trim();
      check(/^https?:\/\/\S+$/i.test(url), 'url', url ? 'Enter an http:// or https:// link.' : 'Paste a link to a video.');
    } else {
      check(Boolean(file), 'file', 'Choose or drop a video file.');
    }
    return ok;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const values = readOptions();
    if (!validate(values)) {
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    rememberOptions({ ...values, language: language.value, priority: priority.value });
    submit.disabled = true;
    const label = mode === 'file' ? 'Uploading…' : 'Starting…';
    replace(submit, label);
    try {
      let created;
      if (mode === 'file') {
        uploadBar.hidden = false;
        created = await api.upload(file, { options: values, priority: priority.value }, (fraction) => {
          uploadFill.style.width = `${Math.round(fraction * 100)}%`;
          submit.textContent = `Uploading… ${Math.round(fraction * 100)} %`;
        });
        setFile(null);
      } else {
        created = await api.createJob({ url: urlInput.value.trim(), options: values, priority: priority.value });
        urlInput.value = '';
      }
      toast('Job started.', 'success');
      onCreated(created);
    } catch (problem) {
      showProblem(problem);
    } finally {
      submit.disabled = false;
      replace(submit, icon('spark'), 'Create clips');
      uploadBar.hidden = true;
      uploadFill.style.width = '0%';
    }
  });

  return form;
}
