/* The web kiosk's service worker, served at /kiosk-sw.js with scope /kiosk/ (hub_ui/pages/kiosk.py).

   It keeps the kiosk's shell (the page /kiosk/{device}, kiosk.js, kiosk.css, the icon) so a reload
   while the tablet is offline, or while the hub is down, still shows the kiosk: network first with
   a short timeout, the cached copy when the network fails or is too slow. Every good answer from
   the network refreshes the cache. The API (/api/) is never touched here: answers, heartbeats and
   the config always go to the network (the page keeps its own outbox and config in IndexedDB).
   kiosk.js fills the cache itself once the worker is ready (the first load happens before the
   worker controls the page). */
'use strict';

const CACHE = 'otk-kiosk-v1';
const TIMEOUT_MS = 3000;

self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('otk-kiosk-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function isShell(request, url) {
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return false;
  if (request.mode === 'navigate') return url.pathname.startsWith('/kiosk/');
  return url.pathname.startsWith('/static/kiosk/') || url.pathname === '/static/favicon.svg'
    || /^\/kiosk\/[^/]+\/manifest\.webmanifest$/.test(url.pathname);
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then((value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); });
  });
}

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  // a page is kept under its path (no query, no fragment); an asset under its versioned URL
  const key = request.mode === 'navigate' ? url.origin + url.pathname : request.url;
  let response = null;
  try {
    response = await withTimeout(fetch(request), TIMEOUT_MS);
    if (response.ok) {
      await cache.put(key, response.clone());
      return response;
    }
  } catch (error) {
    response = null;  // offline, the hub down or too slow: the cached copy below
  }
  const cached = await cache.match(key);
  if (cached) return cached;
  return response || Response.error();
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!isShell(request, url)) return;
  event.respondWith(networkFirst(request, url));
});
