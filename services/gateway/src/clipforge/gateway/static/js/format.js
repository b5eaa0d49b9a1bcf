// Numbers and times the way people read them.

export const ACTIVE_STATUSES = ['queued', 'ingesting', 'transcribing', 'analyzing', 'rendering'];
export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled'];
export const STAGES = [
  { id: 'ingest', label: 'Download' },
  { id: 'transcribe', label: 'Transcribe' },
  { id: 'analyze', label: 'Find highlights' },
  { id: 'render', label: 'Render clips' },
];

export const STATUS_LABELS = {
  queued: 'Queued',
  ingesting: 'Downloading',
  transcribing: 'Transcribing',
  analyzing: 'Finding highlights',
  rendering: 'Rendering',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export const isTerminal = (status) => TERMINAL_STATUSES.includes(status);

/** 75.9 -> "1:15", 3725 -> "1:02:05" (whole seconds elapsed, as players show them) */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** 19.4 -> "19 s", 130 -> "2 min 10 s" */
export function span(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  if (total < 60) return `${total} s`;
  const m = Math.floor(total / 60);
  const s = total % 60;
  if (m < 60) return s ? `${m} min ${s} s` : `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function eta(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  if (seconds < 1) return 'almost done';
  return `about ${span(seconds)} left`;
}

export function bytes(count) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = Number(count) || 0;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit ? 1 : 0)} ${units[unit]}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function ago(iso) {
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) return '';
  const seconds = (then.getTime() - Date.now()) / 1000;
  const steps = [
    [60, 'second'],
    [3600, 'minute', 60],
    [86400, 'hour', 3600],
    [604800, 'day', 86400],
  ];
  if (Math.abs(seconds) < 45) return 'just now';
  for (const [limit, unit, size = 1] of steps) {
    if (Math.abs(seconds) < limit) return relative.format(Math.round(seconds / size), unit);
  }
  return absolute.format(then);
}

export const dateTime = (iso) => absolute.format(new Date(iso));

export function percent(value) {
  const number = Math.max(0, Math.min(100, Number(value) || 0));
  return Math.floor(number);
}

/** What a person calls a job: the uploaded file's name, or the link without its scheme. */
export function sourceLabel(source) {
  if (!source) return 'Untitled job';
  if (source.kind === 'upload') return source.filename || 'Uploaded video';
  try {
    const url = new URL(source.url);
    const path = decodeURIComponent(url.pathname).replace(/\/$/, '');
    return `${url.host}${path}` || source.url;
  } catch {
    return String(source.url ?? 'Untitled job');
  }
}

/** A link to the original, only for http(s) (never a javascript: or data: URL). */
export function safeHttpUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

export const humanize = (code) => String(code ?? '').replaceAll('_', ' ');
