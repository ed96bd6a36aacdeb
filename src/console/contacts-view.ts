// The console's principal directory page (/console/admin/contacts): contact points listed by their
// display address (a URL is never shown, it is the credential), a form to add one and a button to
// remove each. Every value is escaped by Hono's `html`; a generated webhook secret is shown once.
import { html } from "hono/html";
import { CONTACT_CHANNELS } from "../domain/vocabulary.ts";
import type { ContactSummary } from "../services/contacts.ts";
import { layout, type PageContext } from "./views.ts";

export interface ContactsView {
  contacts: ContactSummary[];
  /** A webhook contact point just created with a generated secret: shown this once. */
  createdSecret?: { contactId: number; secret: string } | undefined;
  notice?: { kind: "error" | "notice"; text: string } | undefined;
}

export function contactsPage(page: PageContext, view: ContactsView) {
  const csrf = html`<input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />`;
  return layout(
    "Directory",
    page,
    html`<h1>Principal directory</h1>
      <p>Where approvers are notified. Chat and webhook URLs are stored sealed and shown by host only.</p>
      ${
        view.notice
          ? html`<p class="${view.notice.kind}" role="${view.notice.kind === "error" ? "alert" : "status"}">${view.notice.text}</p>`
          : ""
      }
      ${
        view.createdSecret
          ? html`<div class="secret" role="status">
            <p>Contact point ${view.createdSecret.contactId} signs with this secret. Copy it now: it is shown this once.</p>
            <pre id="new-secret">${view.createdSecret.secret}</pre>
          </div>`
          : ""
      }
      <h2>Add a contact point</h2>
      <form method="post" action="/console/admin/contacts" class="stack">
        ${csrf}
        <label for="contact_principal">Principal (blank for a tenant-wide recipient)</label><input id="contact_principal" name="principal_id" />
        <label for="contact_tenant">Tenant (blank for every tenant of the principal)</label><input id="contact_tenant" name="tenant_id" />
        <label for="contact_channel">Channel</label>
        <select id="contact_channel" name="channel">${CONTACT_CHANNELS.map((channel) => html`<option>${channel}</option>`)}</select>
        <label for="contact_target">Email address, or the Teams, Google Chat or webhook URL</label><input id="contact_target" name="target" required maxlength="2048" />
        <label for="contact_secret">Webhook secret (whsec_…; blank to generate one)</label><input id="contact_secret" name="secret" autocomplete="off" />
        <button type="submit">Add</button>
      </form>
      <div class="scroll" tabindex="0" role="region" aria-label="Contact points"><table>
        <caption class="visually-hidden">Contact points, newest first</caption>
        <thead><tr><th scope="col">Id</th><th scope="col">Principal</th><th scope="col">Tenant</th><th scope="col">Channel</th><th scope="col">Address</th><th scope="col">Added</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          ${view.contacts.map(
            (contact) => html`<tr>
              <td>${contact.contact_id}</td><td>${contact.principal_id ?? "(tenant)"}</td><td>${contact.tenant_id ?? "all"}</td>
              <td>${contact.channel}</td><td>${contact.address}</td>
              <td><time datetime="${contact.created_at}">${contact.created_at}</time> by ${contact.created_by}</td>
              <td><form method="post" action="/console/admin/contacts/${contact.contact_id}/remove">${csrf}<button type="submit" class="danger" aria-label="Remove contact point ${contact.contact_id}">Remove</button></form></td>
            </tr>`,
          )}
        </tbody>
      </table></div>`,
  );
}
