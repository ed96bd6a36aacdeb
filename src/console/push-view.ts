// The console's push page (/console/push, issue 31): turns Web Push on for this browser (the script
// /console/assets/push.js asks permission, subscribes with the server's VAPID public key and posts the
// subscription with the session's CSRF token) and lists the principal's browsers, each removable with
// a plain form. Every value is escaped by Hono's `html`.
import { html } from "hono/html";
import type { PushSubscriptionSummary } from "../services/push-subscriptions.ts";
import { layout, type PageContext } from "./views.ts";

export interface PushView {
  /** The server's VAPID public key; undefined when push is not configured. */
  publicKey: string | undefined;
  subscriptions: PushSubscriptionSummary[];
  notice?: { kind: "error" | "notice"; text: string } | undefined;
}

export function pushPage(page: PageContext, view: PushView) {
  const csrf = page.csrf ?? "";
  return layout(
    "Push notifications",
    page,
    html`<h1>Push notifications</h1>
      <p>Get a notification on this device when a request needs your decision; tapping it opens the request's page, where you decide. Install the console (your browser's "Install" or "Add to Home Screen") to get them like an app's.</p>
      ${
        view.notice
          ? html`<p class="${view.notice.kind}" role="${view.notice.kind === "error" ? "alert" : "status"}">${view.notice.text}</p>`
          : ""
      }
      ${
        view.publicKey
          ? html`<div data-push data-push-key="${view.publicKey}" data-push-action="/console/push/subscriptions" data-csrf="${csrf}">
              <button type="button" data-push-on hidden>Turn on push on this device</button>
              <p data-push-status role="status"></p>
            </div>`
          : html`<p class="hint">Push notifications are not configured on this server (VAPID keys: docs/DEPLOY.md).</p>`
      }
      <h2>Your devices</h2>
      ${
        view.subscriptions.length === 0
          ? html`<p class="empty">No device takes your push notifications.</p>`
          : html`<ul id="push-subscriptions">
              ${view.subscriptions.map(
                (
                  s,
                ) => html`<li data-subscription-id="${s.id}">Through ${s.push_service}, since <time datetime="${s.created_at}">${s.created_at}</time>${
                  s.last_success_at
                    ? html`, last delivered <time datetime="${s.last_success_at}">${s.last_success_at}</time>`
                    : ""
                }
                  <form method="post" action="/console/push/subscriptions/${s.id}/remove" class="inline"><input type="hidden" name="_csrf" value="${csrf}" /><button type="submit" class="danger" aria-label="Turn off push on device ${s.id}">Turn off</button></form></li>`,
              )}
            </ul>`
      }`,
  );
}
