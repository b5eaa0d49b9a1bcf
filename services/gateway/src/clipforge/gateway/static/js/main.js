// ClipForge web app: start-up, the API key, the live connection and the routes
// (#/ the jobs, #/jobs/<id> one job).

import { api, apiKey } from './api.js';
import { h, icon, replace, toast } from './dom.js';
import { LiveEvents } from './live.js';
import { JobStore } from './store.js';
import { homeView } from './views/home.js';
import { jobView } from './views/job.js';
import { keyForm, welcomeView } from './views/keyform.js';
import { emptyState } from './views/parts.js';

const main = document.getElementById('main');
const keyButton = document.getElementById('key-button');
const keyDialog = document.getElementById('key-dialog');
const connection = document.getElementById('connection');

const live = new LiveEvents(() => apiKey.get());
const store = new JobStore(live);
let current = null;

const CONNECTION_LABELS = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };
live.addEventListener('state', (event) => {
  connection.dataset.state = event.detail;
  connection.querySelector('.connection-label').textContent = CONNECTION_LABELS[event.detail];
  connection.title =
    event.detail === 'live'
      ? 'Progress updates arrive as they happen.'
      : event.detail === 'reconnecting'
        ? 'The live connection dropped; reconnecting and catching up on what was missed.'
        : '';
});

function signOut(reason) {
  live.stop();
  apiKey.clear();
  store.jobs.clear();
  store.listed.clear();
  store.state = 'idle';
  render(reason);
}

// A key that stops working (revoked) sends the person back to the key form with a reason.
api.onUnauthorized = () => signOut('That API key is no longer accepted. Enter a valid key to continue.');
live.addEventListener('unauthorized', () => api.onUnauthorized());

function updateKeyButton() {
  const hasKey = Boolean(apiKey.get());
  keyButton.hidden = !hasKey;
  connection.hidden = !hasKey;
  replace(keyButton, icon('key'), h('span', { class: 'key-label' }, hasKey ? apiKey.masked() : 'API key'));
  keyButton.setAttribute('aria-label', hasKey ? `Change API key (${apiKey.masked()})` : 'API key');
}

function openKeyDialog() {
  const form = keyForm({
    idPrefix: 'dialog-key',
    onSaved: (key) => {
      keyDialog.close();
      const changed = key !== apiKey.get();
      apiKey.set(key);
      if (changed) {
        live.stop();
        store.jobs.clear();
        store.listed.clear();
        store.state = 'idle';
        live.start();
        render();
        toast('API key saved.', 'success');
      }
    },
    onCancel: () => keyDialog.close(),
    onForget: () => {
      keyDialog.close();
      signOut('');
      toast('The key was removed from this browser.');
    },
  });
  replace(
    keyDialog,
    h(
      'div',
      { class: 'dialog-body' },
      h('h2', { id: 'key-dialog-title', class: 'dialog-title' }, 'API key'),
      h('p', { class: 'dialog-text' }, 'In use: ', h('code', {}, apiKey.masked()), '. Enter another key to switch tenants.'),
      form,
    ),
  );
  keyDialog.showModal();
  form.focusInput();
}
keyButton.addEventListener('click', openKeyDialog);

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const job = hash.match(/^\/jobs\/([A-Za-z0-9_-]{1,64})$/);
  if (job) return { name: 'job', id: job[1] };
  if (hash === '/' || hash === '') return { name: 'home' };
  return { name: 'missing' };
}

function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function render(reason = '') {
  const focusMain = current !== null;
  current?.destroy();
  current = null;
  updateKeyButton();
  if (!apiKey.get()) {
    current = welcomeView({
      reason,
      onSaved: (key) => {
        apiKey.set(key);
        live.start();
        render();
      },
    });
  } else {
    const where = route();
    if (where.name === 'job') current = jobView({ store, id: where.id, navigate });
    else if (where.name === 'home') current = homeView({ store });
    else {
      current = {
        element: emptyState({ title: 'Page not found', text: 'There is nothing at this address.', action: h('a', { class: 'btn btn-primary', href: '#/' }, 'See all jobs') }),
        destroy() {},
      };
    }
    if (where.name !== 'job') document.title = 'ClipForge';
  }
  replace(main, current.element);
  window.scrollTo(0, 0);
  // Moving to another page puts keyboard and screen-reader focus at the start of its content.
  if (!apiKey.get()) current.focus?.();
  else if (focusMain) main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => render());
if (apiKey.get()) live.start();
render();
