// The ClipForge REST API from the browser. Errors come back as RFC 9457 problem details and are
// raised as ApiError with the same fields (status, code, title, detail, errors).

const STORAGE_KEY = 'clipforge.apiKey';

export const apiKey = {
  get() {
    try {
      return localStorage.getItem(STORAGE_KEY) || '';
    } catch {
      return sessionKey;
    }
  },
  set(value) {
    sessionKey = value;
    try {
      localStorage.setItem(STORAGE_KEY, value);
    } catch {
      // Storage disabled (private mode, policy): the key lasts for this tab only.
    }
  },
  clear() {
    sessionKey = '';
    try {
      localStorage.removeItem(STORAGE_KEY);
    } catch {
      // nothing stored
    }
  },
  /** "cf_ab…9f2c": enough to tell keys apart, not enough to use one. */
  masked() {
    const key = this.get();
    return key.length > 10 ? `${key.slice(0, 5)}…${key.slice(-4)}` : '••••';
  },
};
let sessionKey = '';

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code || (status === 0 ? 'network_error' : 'http_error');
    this.title = problem.title || (status === 0 ? 'Cannot reach ClipForge' : 'Request failed');
    this.detail = problem.detail || this.message;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

async function problemOf(response) {
  const type = response.headers.get('content-type') || '';
  if (type.includes('json')) {
    try {
      return await response.json();
    } catch {
      // fall through to a generic problem
    }
  }
  return { title: response.statusText || 'Request failed', detail: `The server answered ${response.status}.` };
}

/** Everything else in the app calls the API through this one object. */
export const api = {
  onUnauthorized: () => {},

  async request(path, { method = 'GET', json, signal } = {}) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${apiKey.get()}` };
    const init = { method, headers, signal };
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, { detail: 'The network request failed. Check that the gateway is running.' });
    }
    if (!response.ok) {
      const problem = await problemOf(response);
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(response.status, problem);
    }
    if (response.status === 204) return null;
    return response.json();
  },

  listJobs({ statuses = [], cursor = null, limit = 20 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    for (const status of statuses) query.append('status', status);
    if (cursor) query.set('cursor', cursor);
    return this.request(`/v1/jobs?${query}`);
  },
  getJob: (id, options) => api.request(`/v1/jobs/${encodeURIComponent(id)}`, options),
  createJob: (body) => api.request('/v1/jobs', { method: 'POST', json: body }),
  retryJob: (id) => api.request(`/v1/jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' }),
  cancelJob: (id) => api.request(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
  deleteJob: (id) => api.request(`/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  transcript: (id, options) => api.request(`/v1/jobs/${encodeURIComponent(id)}/transcript?format=json`, options),

  /**
   * POST /v1/jobs/upload as multipart. XMLHttpRequest rather than fetch: it reports upload
   * progress. ``onProgress(fraction)``; resolves with the created job, rejects with ApiError.
   */
  upload(file, { options, priority }, onProgress = () => {}) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      form.append('options', JSON.stringify(options));
      form.append('priority', priority);
      form.append('file', file, file.name);
      const request = new XMLHttpRequest();
      request.open('POST', '/v1/jobs/upload');
      request.setRequestHeader('Authorization', `Bearer ${apiKey.get()}`);
      request.setRequestHeader('Accept', 'application/json');
      request.responseType = 'text';
      request.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      request.addEventListener('load', () => {
        let body = {};
        try {
          body = JSON.parse(request.responseText || '{}');
        } catch {
          body = { detail: `The server answered ${request.status}.` };
        }
        if (request.status >= 200 && request.status < 300) {
          resolve(body);
          return;
        }
        if (request.status === 401) this.onUnauthorized();
        reject(new ApiError(request.status, body));
      });
      request.addEventListener('error', () =>
        reject(new ApiError(0, { detail: 'The upload was interrupted. Check the connection and try again.' })),
      );
      request.send(form);
    });
  },

  /**
   * A URL the browser can load by itself (a <video> or a download link cannot send headers):
   * the API accepts the key as ?api_key=. Responses of this page never send a Referer.
   */
  mediaUrl(path) {
    const url = new URL(path, location.origin);
    if (url.origin !== location.origin) return null;
    url.searchParams.set('api_key', apiKey.get());
    return url.pathname + url.search;
  },
};
