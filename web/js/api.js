// The HTTP API (shared/api-v1.md, docs/api.md). The bearer token lives in localStorage,
// is sent only in the Authorization header, and is never put in a URL.

const TOKEN_KEY = 'hilo.token';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// The token this page signed in with, kept in memory: if another tab signs in as someone
// else (or out), this page reloads rather than act for an account it does not show.
let current = localStorage.getItem(TOKEN_KEY);
window.addEventListener('storage', (e) => {
  if (e.key === TOKEN_KEY && e.newValue !== current) location.reload();
});

export function token() {
  return current;
}

export function setToken(value) {
  current = value || null;
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

let onUnauthorized = () => {};

/** Called when the server says the token is no longer valid (401 on an authenticated call). */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** Calls the API. `body` is sent as JSON; the answer's JSON (or null for 204) is returned. */
export async function api(method, path, body, { raw = false, auth = true } = {}) {
  const headers = {};
  const tok = token();
  if (auth && tok) headers.authorization = `Bearer ${tok}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 'network', err.message);
  }
  if (raw && response.ok) return response;
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const error = data?.error || {};
    if (response.status === 401 && auth && tok && tok === token()) {
      // The token this call carried is dead (and is still the one in use).
      onUnauthorized();
    }
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message, response.headers.get('retry-after'));
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const patch = (path, body) => api('PATCH', path, body);
export const put = (path) => api('PUT', path);
export const del = (path, body) => api('DELETE', path, body);

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * Uploads a file (multipart, one part `file`) with progress: XMLHttpRequest, because fetch
 * reports no upload progress. Resolves to the attachment object.
 */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/attachments');
    xhr.setRequestHeader('authorization', `Bearer ${token()}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress?.(e.loaded / e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status === 201) resolve(data);
      else reject(new ApiError(xhr.status, data?.error?.code || `http_${xhr.status}`, data?.error?.message));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'));
    const form = new FormData();
    form.append('file', file, file.name || 'pasted');
    xhr.send(form);
  });
}

/** An API path from a URL the server gave (`/api/v1/attachments/…`), for `api()`. */
function apiPath(url) {
  return url.startsWith('/api/v1') ? url.slice('/api/v1'.length) : url;
}

const blobs = new Map();

/** Forgets the files fetched so far (signing out). */
export function clearBlobs() {
  for (const promise of blobs.values()) promise.then((href) => URL.revokeObjectURL(href)).catch(() => {});
  blobs.clear();
}

/**
 * A blob: URL for an authenticated file (attachments and thumbnails need the bearer token,
 * which an <img src> cannot send). Cached per URL for the life of the page.
 */
export function blobUrl(url) {
  if (!blobs.has(url)) {
    const promise = api('GET', apiPath(url), undefined, { raw: true })
      .then((r) => r.blob())
      .then((b) => URL.createObjectURL(b));
    promise.catch(() => blobs.delete(url));
    blobs.set(url, promise);
  }
  return blobs.get(url);
}

/** Saves an authenticated download (the data export, a file card) under a file name. */
export async function download(path, name) {
  const response = await api('GET', apiPath(path), undefined, { raw: true });
  const href = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
