// A contact's dealings with the business as one timeline, newest first, from the records of
// their relationship (each record may give several moments: opened, resolved...).
import type { Order } from './customer-value'
import type { Conversation, Deal, Lead, Ticket } from './types'

export interface Relationship {
  conversations: Conversation[]
  tickets: Ticket[]
  leads: Lead[]
  deals: (Deal & { created_at?: string; updated_at?: string })[]
  enrolments: { id: string; campaign_id: string; status: string; enrolled_at?: string }[]
  orders: Order[]
}

export type MomentKind =
  | 'conversationStarted' | 'lastMessage' | 'ticketOpened' | 'ticketResolved'
  | 'leadCreated' | 'dealCreated' | 'enrolled' | 'orderPlaced'

export interface Moment {
  at: string
  kind: MomentKind
  text: string // what the record says (a subject, a score, a title)
  link: string | null // where the console shows it
}

export function timeline(related: Relationship): Moment[] {
  const moments: Moment[] = []
  const add = (at: string | null | undefined, kind: MomentKind, text: string, link: string | null): void => {
    if (at) moments.push({ at, kind, text, link })
  }
  for (const c of related.conversations) {
    const link = `/inbox/${c.id}`
    add((c as { created_at?: string }).created_at, 'conversationStarted', c.channel, link)
    if (c.last_message) add(c.last_message.at, 'lastMessage', c.last_message.text, link)
  }
  for (const ticket of related.tickets) {
    const link = `/inbox/${ticket.conversation_id}`
    add(ticket.created_at, 'ticketOpened', ticket.subject, link)
    add(ticket.resolved_at, 'ticketResolved', ticket.subject, link)
  }
  for (const lead of related.leads) add(lead.created_at, 'leadCreated', String(lead.score), '/sales')
  for (const deal of related.deals) add(deal.created_at, 'dealCreated', deal.title, '/sales')
  for (const enrolment of related.enrolments) add(enrolment.enrolled_at, 'enrolled', enrolment.status, '/campaigns')
  for (const order of related.orders ?? []) add(order.placed_at, 'orderPlaced', `#${order.number}`, null)
  return moments.sort((a, b) => b.at.localeCompare(a.at))
}
