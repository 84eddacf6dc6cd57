{% load static %}// The approvals app's service worker: the shell (styles, scripts, icons and an
// offline page) is cached so the installed app opens without a network; pages
// themselves always come from the server, never from the cache, so a request
// shown is never a stale one.
"use strict";
const CACHE = "lienthong-approvals-v1";
const OFFLINE = "{% url 'approvals:app-offline' %}";
const SHELL = [
  OFFLINE,
  "{% static 'lienthong/site.css' %}",
  "{% static 'lienthong/htmx-2.0.11.min.js' %}",
  "{% static 'identity/passkeys.js' %}",
  "{% static 'approvals/app.js' %}",
  "{% static 'approvals/icon.svg' %}",
  "{% static 'approvals/icon-192.png' %}",
  "{% static 'approvals/icon-512.png' %}",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("lienthong-approvals-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
    return;
  }
  const url = new URL(request.url);
  if (url.origin === self.location.origin && SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});
