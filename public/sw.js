// The console's service worker (registered by /console/assets/push.js with scope /console). It shows
// Web Push notifications and opens the request they are about. It caches nothing and has no fetch
// handler: every page and every decision comes from the server, so a stale decision can never show.

const FALLBACK_URL = "/console";

/** Only pages of this origin's console may be opened from a notification. */
function consoleUrl(value) {
  try {
    const url = new URL(String(value), self.location.origin);
    if (url.origin === self.location.origin && url.pathname.indexOf("/console") === 0) return url.href;
  } catch (_error) {
    // Not a URL: fall back below.
  }
  return new URL(FALLBACK_URL, self.location.origin).href;
}

/** The payload's fields are data (identifiers and a number), shortened and never markup. */
function field(value, max) {
  const text = typeof value === "string" || typeof value === "number" ? String(value) : "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (_error) {
    data = {};
  }
  const skill = field(data.skill, 80);
  const title = skill ? `Approval needed: ${skill}` : "Approval needed";
  const body = `Level ${field(data.level, 4)} · request ${field(data.request_id, 64)}`;
  event.waitUntil(
    self.registration.showNotification(title, {
      body: body,
      tag: field(data.request_id, 64) || undefined,
      icon: "/icons/icon-192.png",
      data: { url: consoleUrl(data.url) },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = consoleUrl(event.notification.data?.url);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (let i = 0; i < windows.length; i++) {
        if (windows[i].url === url && "focus" in windows[i]) return windows[i].focus();
      }
      return self.clients.openWindow(url);
    }),
  );
});
