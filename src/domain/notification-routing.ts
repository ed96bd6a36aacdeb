// Who is told about a request, and through which contact points (issue 25). Pure: the planner
// (services/notifications/planner.ts) reads the keys, delegations and contact points once and this
// decides.
//
// - approval_needed and reminders: every principal that may decide it (a deciding key covering the
//   tenant at the required level or above), never its requester.
// - escalated (and a reminder of an escalated request): the principal it was escalated to when that
//   principal may decide it, else everyone who may.
// - decided: the requester's side (the principal of the key that filed it).
// - While a principal is away, its delegates (chains bounded, domain/delegation.ts) are told in its
//   place and besides it, marked "on behalf of"; a delegate who is the requester is never told (its
//   decision could never count: no self-approval through delegation).
// - A tenant's own contact points (principal_id NULL) hear every kind.

import { type DelegationEdge, delegatesOf } from "./delegation.ts";
import { canonicalIdentifier } from "./limits.ts";
import type { ContactChannel, NotificationKind } from "./vocabulary.ts";

/** The most deliveries one plan writes: a tenant with more reachable people is told in part, and logged. */
export const MAX_DELIVERIES_PER_PLAN = 200;

/** A principal holding a key that may decide requests, with the highest level its keys allow here. */
export interface Decider {
  principalId: string;
  maxLevel: number;
}

export interface RoutedRequest {
  tenantId: string;
  status: string;
  requiredLevel: number;
  escalateTo: string | null;
  requestedBy: string;
  requesterPrincipalId: string | null;
}

/** A contact point as routing needs it. */
export interface RoutableContact {
  id: number;
  principalId: string | null;
  tenantId: string | null;
  channel: ContactChannel;
}

export interface Audience {
  principalId: string;
  /** Told as the delegate of this principal. */
  onBehalfOf: string | null;
}

export interface RoutedDelivery {
  contactId: number;
  channel: ContactChannel;
  /** NULL: a tenant's own contact point. */
  recipientId: string | null;
  onBehalfOf: string | null;
}

/** The principals told of `kind` about `request`, direct ones first, each once. */
export function notificationAudience(
  kind: NotificationKind,
  request: RoutedRequest,
  deciders: readonly Decider[],
  edges: readonly DelegationEdge[],
  at: Date,
): Audience[] {
  const requesters = new Set(
    [request.requestedBy, request.requesterPrincipalId].flatMap((id) =>
      id ? [canonicalIdentifier(id)] : [],
    ),
  );
  if (kind === "progress") return [];
  if (kind === "decided") {
    const requester = request.requesterPrincipalId;
    return requester ? [{ principalId: requester, onBehalfOf: null }] : [];
  }
  const eligible = deciders.filter(
    (decider) =>
      decider.maxLevel >= request.requiredLevel && !requesters.has(canonicalIdentifier(decider.principalId)),
  );
  const escalated = kind === "escalated" || (kind === "reminder" && request.status === "escalated");
  const target = request.escalateTo ? canonicalIdentifier(request.escalateTo) : null;
  const named =
    escalated && target ? eligible.filter((d) => canonicalIdentifier(d.principalId) === target) : [];
  const direct = (named.length > 0 ? named : eligible).map((d) => d.principalId);
  const told = new Set(direct.map(canonicalIdentifier));
  const audience: Audience[] = direct.map((principalId) => ({ principalId, onBehalfOf: null }));
  for (const principalId of direct) {
    for (const delegate of delegatesOf(principalId, edges, request.tenantId, at)) {
      if (told.has(delegate) || requesters.has(delegate)) continue;
      told.add(delegate);
      audience.push({ principalId: delegate, onBehalfOf: principalId });
    }
  }
  return audience;
}

/**
 * The deliveries for `audience`: each member's contact points for the tenant (its own for this tenant
 * or for every tenant), then the tenant's own; each contact point once, at most MAX_DELIVERIES_PER_PLAN.
 */
export function routeToContacts(
  audience: readonly Audience[],
  contacts: readonly RoutableContact[],
  tenantId: string,
): { deliveries: RoutedDelivery[]; cut: number } {
  const deliveries: RoutedDelivery[] = [];
  const used = new Set<number>();
  const add = (contact: RoutableContact, recipientId: string | null, onBehalfOf: string | null) => {
    if (used.has(contact.id)) return;
    used.add(contact.id);
    deliveries.push({ contactId: contact.id, channel: contact.channel, recipientId, onBehalfOf });
  };
  const byPrincipal = new Map<string, RoutableContact[]>();
  for (const contact of contacts) {
    if (contact.principalId === null || (contact.tenantId !== null && contact.tenantId !== tenantId))
      continue;
    const key = canonicalIdentifier(contact.principalId);
    byPrincipal.set(key, [...(byPrincipal.get(key) ?? []), contact]);
  }
  for (const member of audience)
    for (const contact of byPrincipal.get(canonicalIdentifier(member.principalId)) ?? [])
      add(contact, member.principalId, member.onBehalfOf);
  for (const contact of contacts)
    if (contact.principalId === null && contact.tenantId === tenantId) add(contact, null, null);
  return {
    deliveries: deliveries.slice(0, MAX_DELIVERIES_PER_PLAN),
    cut: Math.max(0, deliveries.length - MAX_DELIVERIES_PER_PLAN),
  };
}

/** A push subscription as routing needs it. */
export interface RoutablePushSubscription {
  id: number;
  principalId: string;
}

export interface RoutedPush {
  pushSubscriptionId: number;
  recipientId: string;
  onBehalfOf: string | null;
}

/** Kinds that ask someone to decide; a push opens the request's page where the decision is. */
const PUSHED_KINDS: readonly NotificationKind[] = ["approval_needed", "escalated", "reminder"];

/**
 * The push deliveries for `audience` (issue 31): each member's browsers, once each, at most `room`
 * (what MAX_DELIVERIES_PER_PLAN leaves after the contact points).
 */
export function routeToPush(
  kind: NotificationKind,
  audience: readonly Audience[],
  subscriptions: readonly RoutablePushSubscription[],
  room: number,
): { deliveries: RoutedPush[]; cut: number } {
  if (!PUSHED_KINDS.includes(kind)) return { deliveries: [], cut: 0 };
  const byPrincipal = new Map<string, RoutablePushSubscription[]>();
  for (const subscription of subscriptions) {
    const key = canonicalIdentifier(subscription.principalId);
    byPrincipal.set(key, [...(byPrincipal.get(key) ?? []), subscription]);
  }
  const deliveries: RoutedPush[] = [];
  const used = new Set<number>();
  for (const member of audience)
    for (const subscription of byPrincipal.get(canonicalIdentifier(member.principalId)) ?? []) {
      if (used.has(subscription.id)) continue;
      used.add(subscription.id);
      deliveries.push({
        pushSubscriptionId: subscription.id,
        recipientId: member.principalId,
        onBehalfOf: member.onBehalfOf,
      });
    }
  const kept = Math.max(0, room);
  return { deliveries: deliveries.slice(0, kept), cut: Math.max(0, deliveries.length - kept) };
}
