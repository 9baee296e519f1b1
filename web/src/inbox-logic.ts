// The inbox list's rules, apart from Vue so they can be tested alone: which conversations a
// view shows, and where a live update puts one.
import type { Conversation, Priority, Status, View } from './types'

export interface InboxFilter {
  view: View
  status: Status
  channel: string | null
  label: string | null
  intent: string | null
  priority: Priority | null
  q: string | null
}

export function shows(filter: InboxFilter, conversation: Conversation, userId: string): boolean {
  if (conversation.status !== filter.status) return false
  if (filter.channel && conversation.channel !== filter.channel) return false
  if (filter.label && !conversation.labels.includes(filter.label)) return false
  if (filter.intent && conversation.last_intent !== filter.intent) return false
  if (filter.priority && conversation.priority !== filter.priority) return false
  if (filter.view === 'mine' && conversation.assignee_id !== userId) return false
  if (filter.view === 'unassigned' && conversation.assignee_id !== null) return false
  return true
}

/** Whether `incoming` is an older state of `current` than the one shown (a live event that
 * arrives after the answer to the change that followed it). */
export function isStale(current: Conversation | null | undefined, incoming: Conversation): boolean {
  return Boolean(current?.updated_at && incoming.updated_at && incoming.updated_at < current.updated_at)
}

/** The list after a live change: the conversation moves to its place by latest activity, keeps
 * the contact it was shown with, or leaves when the view no longer shows it. While searching,
 * only conversations already found are updated (the search itself runs on the server). */
export function applyChange(
  list: Conversation[],
  changed: Conversation,
  filter: InboxFilter,
  userId: string,
): Conversation[] {
  const index = list.findIndex((c) => c.id === changed.id)
  const previous = index >= 0 ? list[index] : undefined
  if (isStale(previous, changed)) return list
  const rest = list.filter((c) => c.id !== changed.id)
  if (!shows(filter, changed, userId) || (filter.q && !previous)) return rest
  const merged: Conversation = { ...changed, contact: changed.contact ?? previous?.contact ?? null }
  const at = rest.findIndex((c) => c.last_message_at < merged.last_message_at)
  return at < 0 ? [...rest, merged] : [...rest.slice(0, at), merged, ...rest.slice(at)]
}

/** The id `step` rows away from `current` (j/k), staying at the ends. */
export function neighbour(list: Conversation[], current: string | null, step: 1 | -1): string | null {
  if (list.length === 0) return null
  const index = list.findIndex((c) => c.id === current)
  if (index < 0) return list[0]?.id ?? null
  const next = Math.min(Math.max(index + step, 0), list.length - 1)
  return list[next]?.id ?? null
}

/** The customer's messages no one on the team has read yet. */
export function unread(conversation: Conversation): number {
  return Math.max(0, (conversation.inbound_count ?? 0) - (conversation.seen_inbound_count ?? 0))
}
