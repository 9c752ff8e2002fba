// The web chat's service worker (scope /chat/): shows a push as a notification, unless the
// chat is open and in front of the visitor, and opens or focuses the chat when tapped.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function chatInFront() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  return windows.some((w) => new URL(w.url).pathname.startsWith("/chat") && w.visibilityState === "visible" && w.focused);
}

self.addEventListener("push", (event) => {
  let shown = {};
  try { shown = event.data ? event.data.json() : {}; } catch (error) { shown = {}; }
  event.waitUntil((async () => {
    if (await chatInFront()) return; // the page shows the message itself
    await self.registration.showNotification(shown.title || "Cầu Nối", {
      body: shown.body || "",
      tag: shown.tag || "caunoi",
      icon: "/chat/static/icon-192.png",
      badge: "/chat/static/icon-192.png",
      data: { url: shown.url || "/chat" },
    });
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/chat", self.location.origin);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const open = windows.find((w) => new URL(w.url).pathname.startsWith("/chat"));
    if (open) return open.focus();
    return self.clients.openWindow(target.href);
  })());
});
