// The console's policy pages (issue 29): /console/admin/policy lists the candidate bundles with their
// shadow counts, /console/admin/policy/candidates/:id shows one candidate's difference from the live
// policy, its shadow disagreements, a plan against the last 7 days and the shadow switch. Every value,
// descriptions and rule text included, goes through Hono's `html`, which escapes it.
import { html } from "hono/html";
import type { DisagreementCount, ShadowDisagreement } from "../db/policy-candidates.ts";
import type { PolicyCandidateRow } from "../db/schema.ts";
import { type BundleDiff, ROW_SECTIONS, rowKey, type SectionName } from "../domain/policy-bundle.ts";
import { CHANGE_KINDS, type PlanReport } from "../domain/policy-plan.ts";
import type { BundleRefusal } from "../services/policy-bundles.ts";
import { layout, type PageContext } from "./views.ts";

type Html = ReturnType<typeof html>;
type Notice = { kind: "error" | "notice"; text: string };

export interface Disagreements {
  shadowed: number;
  counts: DisagreementCount[];
  latest: ShadowDisagreement[];
}

export interface PolicyListView {
  candidates: { row: PolicyCandidateRow; shadow: Disagreements }[];
}

export interface CandidateView {
  row: PolicyCandidateRow;
  /** The difference from the live policy; undefined when the stored bundle no longer parses. */
  diff?: BundleDiff | undefined;
  refusals: BundleRefusal[];
  shadow: Disagreements;
  plan?: PlanReport | undefined;
  notice?: Notice | undefined;
}

const short = (sha: string) => sha.slice(0, 12);
const time = (at: Date | string) => {
  const iso = typeof at === "string" ? at : at.toISOString();
  return html`<time datetime="${iso}">${iso}</time>`;
};
const candidatePath = (id: string) => `/console/admin/policy/candidates/${id}`;

function noticeOf(notice: Notice | undefined): Html | string {
  if (!notice) return "";
  return html`<p class="${notice.kind}" role="${notice.kind === "error" ? "alert" : "status"}">${notice.text}</p>`;
}

/** A value as one line of text (null shown as such; objects as JSON). */
function shown(value: unknown): string {
  if (value === null || value === undefined) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** A row's fields as `name=value` pairs. */
function fields(row: object): string {
  return Object.entries(row)
    .map(([name, value]) => `${name}=${shown(value)}`)
    .join(", ");
}

/** The fields that differ between two versions of one row, as `name: before → after`. */
function changedFields(before: object, after: object): string[] {
  const old = before as Record<string, unknown>;
  const next = after as Record<string, unknown>;
  const names = [...new Set([...Object.keys(old), ...Object.keys(next)])];
  return names
    .filter((name) => shown(old[name]) !== shown(next[name]))
    .map((name) => `${name}: ${shown(old[name])} → ${shown(next[name])}`);
}

function shadowCounts(shadow: Disagreements): Html {
  const disagreeing = shadow.counts.reduce((sum, count) => sum + count.count, 0);
  return html`${shadow.shadowed} compared, ${disagreeing} disagreed${
    shadow.counts.length
      ? html`<ul class="plain">
          ${shadow.counts.map(
            (count) =>
              html`<li>${count.decision} → ${count.shadowDecision}${
                count.levelChange ? ` (level ${count.levelChange > 0 ? "+" : ""}${count.levelChange})` : ""
              }: ${count.count}</li>`,
          )}
        </ul>`
      : ""
  }`;
}

export function policyListPage(page: PageContext, view: PolicyListView): Html {
  return layout(
    "Policy",
    page,
    html`<h1>Policy candidates</h1>
      <p>A candidate is a policy bundle stored beside the live policy, not in force. Store one with
        <code>npm run policy -- shadow &lt;file&gt;</code> or <code>POST /api/v1/admin/policies/candidates</code>
        (docs/POLICY.md); with its shadow on, every live evaluation in its scope is also judged by it.</p>
      ${
        view.candidates.length === 0
          ? html`<p>No candidates yet.</p>`
          : html`<div class="scroll" tabindex="0" role="region" aria-label="Policy candidates"><table>
        <caption class="visually-hidden">Policy candidates, newest first</caption>
        <thead><tr><th scope="col">Candidate</th><th scope="col">Scope</th><th scope="col">Description</th><th scope="col">Bundle</th><th scope="col">Shadow</th><th scope="col">Shadow answers</th><th scope="col">Created</th></tr></thead>
        <tbody>
          ${view.candidates.map(
            ({ row, shadow }) => html`<tr>
              <td><a href="${candidatePath(row.id)}">${row.id}</a></td><td>${row.scope}</td><td>${row.description ?? ""}</td>
              <td><code>${short(row.bundleSha256)}</code></td><td>${row.shadow ? "on" : "off"}</td>
              <td>${shadowCounts(shadow)}</td>
              <td>${time(row.createdAt)} by ${row.createdBy}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`
      }`,
  );
}

function sectionDiff(diff: BundleDiff, name: SectionName): Html | string {
  const section = diff[name];
  if (section.added.length + section.removed.length + section.changed.length === 0) return "";
  const key = rowKey[name] as (row: object) => string;
  return html`<section aria-labelledby="diff-${name}">
    <h3 id="diff-${name}">${name}</h3>
    <ul class="plain diff">
      ${section.added.map((row) => html`<li class="added"><strong>added</strong> ${fields(row)}</li>`)}
      ${section.removed.map((row) => html`<li class="removed"><strong>removed</strong> ${fields(row)}</li>`)}
      ${section.changed.map(
        ({ before, after }) => html`<li class="changed"><strong>changed</strong> ${key(before)}
          <ul>${changedFields(before, after).map((line) => html`<li>${line}</li>`)}</ul></li>`,
      )}
    </ul>
  </section>`;
}

function diffBlock(view: CandidateView): Html {
  const diff = view.diff;
  if (!diff) return html`<p>The stored bundle does not parse: no difference can be shown.</p>`;
  const sections = ROW_SECTIONS.map((name) => sectionDiff(diff, name)).filter((part) => part !== "");
  return html`${
    diff.settings
      ? html`<section aria-labelledby="diff-settings"><h3 id="diff-settings">settings</h3>
          <ul class="plain">${changedFields(diff.settings.before, diff.settings.after).map((line) => html`<li>${line}</li>`)}</ul></section>`
      : ""
  }${sections}${!diff.settings && sections.length === 0 ? html`<p>No difference: the candidate matches the live policy.</p>` : ""}${
    view.refusals.length
      ? html`<p class="error" role="alert">Your key could not apply this bundle:</p>
          <ul>${view.refusals.map((refusal) => html`<li>${refusal.path} (${refusal.change}): ${refusal.message}</li>`)}</ul>`
      : ""
  }`;
}

function planBlock(plan: PlanReport): Html {
  return html`<section aria-labelledby="plan-heading" id="plan">
    <h2 id="plan-heading">Plan against ${plan.window.since} – ${plan.window.until}</h2>
    <dl class="plan-tally">
      <dt>Replayed</dt><dd id="plan-replayed">${plan.replayed}</dd>
      <dt>Changed</dt><dd id="plan-changed">${plan.changed}</dd>
      <dt>Drifted</dt><dd id="plan-drifted">${plan.drifted}</dd>
      <dt>Skipped</dt><dd id="plan-skipped">${Object.entries(plan.skipped)
        .map(([reason, count]) => `${reason} ${count}`)
        .join(", ")}</dd>
      <dt>Rows read</dt><dd>${plan.sample.rows}${plan.sample.limited ? ` (limit ${plan.sample.limit} reached: the newest were replayed)` : ""}${
        plan.truncated ? " (time limit reached: the counts cover the rows before it)" : ""
      }</dd>
    </dl>
    <p>Totals: ${
      CHANGE_KINDS.filter((kind) => plan.totals[kind] > 0)
        .map((kind) => `${kind} ${plan.totals[kind]}`)
        .join(", ") || "no change"
    }</p>
    ${
      plan.changes.length
        ? html`<div class="scroll" tabindex="0" role="region" aria-label="Plan changes"><table>
        <caption class="visually-hidden">What would change, most changes first</caption>
        <thead><tr><th scope="col">Tenant</th><th scope="col">Skill</th><th scope="col">Change</th><th scope="col">Count</th><th scope="col">Example decision</th></tr></thead>
        <tbody>${plan.changes.map(
          (
            group,
          ) => html`<tr><td>${group.tenant_id}</td><td>${group.skill_id}</td><td>${group.change}</td><td>${group.count}</td>
            <td>${group.examples[0]?.decision_id ?? ""}</td></tr>`,
        )}</tbody>
      </table></div>`
        : ""
    }
  </section>`;
}

export function candidatePage(page: PageContext, view: CandidateView): Html {
  const { row, shadow } = view;
  const csrf = html`<input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />`;
  return layout(
    `Candidate ${row.id}`,
    page,
    html`<p><a href="/console/admin/policy">All candidates</a></p>
      <h1>Candidate ${row.id}</h1>
      ${noticeOf(view.notice)}
      <dl>
        <dt>Scope</dt><dd>${row.scope}</dd>
        <dt>Description</dt><dd>${row.description ?? ""}</dd>
        <dt>Bundle</dt><dd><code>${row.bundleSha256}</code></dd>
        <dt>Written against</dt><dd><code>${row.baseSha256}</code></dd>
        <dt>Created</dt><dd>${time(row.createdAt)} by ${row.createdBy}</dd>
        <dt>Shadow</dt><dd id="shadow-state">${row.shadow ? "on" : "off"}</dd>
      </dl>
      <form method="post" action="${candidatePath(row.id)}/shadow">
        ${csrf}<input type="hidden" name="shadow" value="${row.shadow ? "off" : "on"}" />
        <button type="submit">${row.shadow ? "Turn shadow off" : "Turn shadow on"}</button>
      </form>
      <h2>Difference from the live policy</h2>
      ${diffBlock(view)}
      <h2>Shadow disagreements</h2>
      <p id="shadow-counts">${shadowCounts(shadow)}</p>
      ${
        shadow.latest.length
          ? html`<div class="scroll" tabindex="0" role="region" aria-label="Latest disagreements"><table>
        <caption class="visually-hidden">The latest disagreeing decisions, newest first</caption>
        <thead><tr><th scope="col">Decision</th><th scope="col">Tenant</th><th scope="col">Skill</th><th scope="col">Agent</th><th scope="col">Live → shadow</th><th scope="col">Level</th><th scope="col">Time</th></tr></thead>
        <tbody>${shadow.latest.map(
          (
            one,
          ) => html`<tr><td>${one.id}</td><td>${one.tenantId}</td><td>${one.skillId}</td><td>${one.agentId ?? ""}</td>
            <td>${one.decision} → ${one.shadowDecision}</td><td>${one.approvalLevelRequired} → ${one.shadowLevel}</td><td>${time(one.createdAt)}</td></tr>`,
        )}</tbody>
      </table></div>`
          : ""
      }
      <form method="post" action="${candidatePath(row.id)}/plan">
        ${csrf}<button type="submit">Plan against the last 7 days</button>
      </form>
      ${view.plan ? planBlock(view.plan) : ""}`,
  );
}
