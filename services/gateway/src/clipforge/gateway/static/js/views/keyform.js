// Entering the API key: once, on the first visit (a full page), or later to change it (a dialog).

import { ApiError } from '../api.js';
import { h, icon } from '../dom.js';

const KEY_PATTERN = /^\S{8,}$/;

/** Ask the gateway whether ``key`` is accepted; resolves, or rejects with ApiError. */
async function checkKey(key) {
  let response;
  try {
    response = await fetch('/v1/jobs?limit=1', { headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' } });
  } catch {
    throw new ApiError(0, { detail: 'Cannot reach the gateway. Check that ClipForge is running.' });
  }
  if (response.ok) return;
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    // keep the generic message
  }
  if (response.status === 401) {
    throw new ApiError(401, { ...problem, detail: 'That key was not accepted. Check it and try again.' });
  }
  throw new ApiError(response.status, problem);
}

/**
 * The key form. ``onSaved(key)`` after the gateway accepted it; ``onCancel`` shows a Cancel
 * button (dialog use); ``onForget`` shows a "Forget this key" button.
 */
export function keyForm({ idPrefix, reason = '', onSaved, onCancel = null, onForget = null }) {
  const inputId = `${idPrefix}-input`;
  const hintId = `${idPrefix}-hint`;
  const errorId = `${idPrefix}-error`;
  const input = h('input', {
    id: inputId,
    class: 'input mono',
    type: 'password',
    name: 'api-key',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'cf_…',
    required: true,
    'aria-describedby': `${hintId} ${errorId}`,
  });
  const reveal = h('button', { class: 'btn btn-ghost btn-sm input-addon', type: 'button', 'aria-pressed': 'false' }, 'Show');
  reveal.addEventListener('click', () => {
    const shown = input.type === 'text';
    input.type = shown ? 'password' : 'text';
    reveal.textContent = shown ? 'Show' : 'Hide';
    reveal.setAttribute('aria-pressed', String(!shown));
  });
  const error = h('p', { id: errorId, class: 'field-error', role: 'alert' });
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Save key');

  const form = h(
    'form',
    { class: 'key-form', novalidate: true },
    reason ? h('p', { class: 'notice notice-warning' }, reason) : null,
    h('label', { class: 'label', for: inputId }, 'API key'),
    h('div', { class: 'input-group' }, input, reveal),
    h(
      'p',
      { id: hintId, class: 'hint' },
      'Running locally? ',
      h('code', {}, 'make up'),
      ' prints a development key and keeps it in ',
      h('code', {}, '.clipforge/dev-api-key'),
      '. The key is stored in this browser only.',
    ),
    error,
    h(
      'div',
      { class: 'form-actions' },
      onForget ? h('button', { class: 'btn btn-ghost btn-danger-text', type: 'button', onclick: onForget }, 'Forget this key') : null,
      h('span', { class: 'spacer' }),
      onCancel ? h('button', { class: 'btn btn-secondary', type: 'button', onclick: onCancel }, 'Cancel') : null,
      save,
    ),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    error.textContent = '';
    input.removeAttribute('aria-invalid');
    if (!KEY_PATTERN.test(key)) {
      error.textContent = 'Paste the whole key, without spaces.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    save.disabled = true;
    save.textContent = 'Checking…';
    try {
      await checkKey(key);
      onSaved(key);
    } catch (problem) {
      error.textContent = problem.detail || 'The key could not be checked.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      save.disabled = false;
      save.textContent = 'Save key';
    }
  });
  form.focusInput = () => input.focus();
  return form;
}

/** The first visit: what ClipForge is, and the key form. */
export function welcomeView({ reason, onSaved }) {
  const form = keyForm({ idPrefix: 'welcome-key', reason, onSaved });
  const view = h(
    'section',
    { class: 'welcome', 'aria-labelledby': 'welcome-title' },
    h(
      'div',
      { class: 'welcome-card card' },
      h('div', { class: 'welcome-icon' }, icon('key', 'icon icon-lg')),
      h('h1', { id: 'welcome-title', class: 'welcome-title' }, 'Connect to ClipForge'),
      h(
        'p',
        { class: 'lead' },
        'Turn long videos into short, captioned clips. Enter your API key once to see your jobs and start new ones.',
      ),
      form,
    ),
  );
  return { element: view, focus: () => form.focusInput(), destroy() {} };
}
