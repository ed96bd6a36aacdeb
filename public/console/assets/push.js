// The console's installable-app and push client: registers the service worker (/sw.js, scope /console)
// on every console page, and on the push page (an element with data-push) turns Web Push on for this
// browser: asks permission, subscribes with the server's VAPID public key and posts the subscription
// as the page's form would (same origin, the session's CSRF token). Turning it off is a plain form.

(() => {
  if (!("serviceWorker" in navigator)) return;
  const ready = navigator.serviceWorker.register("/sw.js", { scope: "/console" });
  const region = document.querySelector("[data-push]");
  if (!region) return;
  const status = region.querySelector("[data-push-status]");
  const button = region.querySelector("[data-push-on]");
  const say = (text) => {
    if (status) status.textContent = text;
  };
  if (!button) return;
  if (!("PushManager" in window) || !("Notification" in window)) {
    say("This browser cannot receive push notifications.");
    button.disabled = true;
    return;
  }
  button.hidden = false;

  /** The VAPID public key, base64url, as the bytes pushManager.subscribe wants. */
  function keyBytes(base64url) {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  button.addEventListener("click", () => {
    button.disabled = true;
    say("Asking for permission…");
    Notification.requestPermission()
      .then((permission) => {
        if (permission !== "granted") throw new Error("Notifications are blocked for this site.");
        return ready;
      })
      .then((registration) =>
        registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(region.getAttribute("data-push-key") || ""),
        }),
      )
      .then((subscription) => {
        const json = subscription.toJSON();
        const form = new URLSearchParams();
        form.set("_csrf", region.getAttribute("data-csrf") || "");
        form.set("endpoint", json.endpoint || "");
        form.set("p256dh", json.keys?.p256dh || "");
        form.set("auth", json.keys?.auth || "");
        return fetch(region.getAttribute("data-push-action") || "", {
          method: "POST",
          body: form,
          credentials: "same-origin",
          redirect: "manual",
        });
      })
      .then((response) => {
        if (response.type !== "opaqueredirect" && !response.ok) throw new Error("The console refused it.");
        window.location.reload();
      })
      .catch((error) => {
        say(`Push was not turned on: ${error?.message ? error.message : error}`);
        button.disabled = false;
      });
  });
})();
