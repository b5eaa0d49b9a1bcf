// The transcript with word timestamps, and the word being spoken highlighted while a clip plays.
// A clip's video time t is the source time clip.start + t; the word is found by binary search.

import { h } from '../dom.js';
import { clock } from '../format.js';

// A word stays lit through a short pause after it, so the highlight does not flicker between words.
const HOLD_SECONDS = 0.6;

export function transcriptPanel(transcript, { onSeek = null } = {}) {
  const words = [];
  const segments = transcript.segments.map((segment) => {
    const paragraph = h('p', { class: 'segment', dataset: { start: segment.start.toFixed(2) } });
    paragraph.append(h('span', { class: 'segment-time', 'aria-hidden': 'true' }, clock(segment.start)));
    if (!segment.words?.length) {
      paragraph.append(segment.text.trim());
      return paragraph;
    }
    segment.words.forEach((word, index) => {
      if (index) paragraph.append(' ');
      const element = h(
        'span',
        { class: 'word', dataset: { start: word.start.toFixed(2), end: word.end.toFixed(2) } },
        word.text.trim(),
      );
      words.push({ start: word.start, end: word.end, element });
      paragraph.append(element);
    });
    return paragraph;
  });

  const body = h('div', { class: 'transcript-body', tabindex: '0', 'aria-label': 'Transcript text' }, segments);
  const element = h('div', { class: 'transcript', lang: transcript.language || undefined }, body);

  let current = null;
  let range = null;
  const reduceMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;

  /** Index of the last word starting at or before ``time``, or -1. */
  function wordAt(time) {
    let low = 0;
    let high = words.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (words[middle].start <= time) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  function keepVisible(target) {
    const top = target.offsetTop;
    const bottom = top + target.offsetHeight;
    if (top >= body.scrollTop + 8 && bottom <= body.scrollTop + body.clientHeight - 8) return;
    body.scrollTo({ top: Math.max(0, top - body.clientHeight / 3), behavior: reduceMotion ? 'auto' : 'smooth' });
  }

  function highlight(time) {
    const index = wordAt(time);
    const word = index >= 0 && time <= words[index].end + HOLD_SECONDS ? words[index] : null;
    if (word === current) return;
    current?.element.classList.remove('is-current');
    current?.element.removeAttribute('aria-current');
    current = word;
    if (!word) return;
    word.element.classList.add('is-current');
    word.element.setAttribute('aria-current', 'true');
    keepVisible(word.element);
  }

  /** Mark the words of the clip that is playing (null: none). */
  function setRange(start, end) {
    if (range && range.start === start && range.end === end) return;
    range = start === null ? null : { start, end };
    for (const word of words) {
      word.element.classList.toggle('in-clip', Boolean(range) && word.start >= start - 0.05 && word.end <= end + 0.05);
    }
    element.classList.toggle('has-clip', Boolean(range));
  }

  // Clicking a word of the playing clip jumps there.
  body.addEventListener('click', (event) => {
    const target = event.target.closest?.('.word.in-clip');
    if (target && onSeek) onSeek(Number(target.dataset.start));
  });

  return { element, highlight, setRange, wordCount: words.length };
}
