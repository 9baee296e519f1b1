// The shapes the hub's API returns (see /api/openapi.json); only the fields the console reads.
// A channel's name, from the hub's channel registry (stores/channels.ts reads the list).
export type Channel = string
export interface ChannelState {
  name: Channel
  status: 'ok' | 'down' | 'off'
  problem?: string
}
// The server's vocabularies (crm_core, nlp.labels), copied for types and translations;
// tests/test_vocabularies.py fails when a copy drifts from the server's.
export const ROLES = ['admin', 'agent', 'sales', 'manager'] as const
export type Role = (typeof ROLES)[number]
export const STATUSES = ['open', 'pending', 'snoozed', 'resolved'] as const
export type Status = (typeof STATUSES)[number]
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const
export type Priority = (typeof PRIORITIES)[number]
export const VIEWS = ['mine', 'unassigned', 'all'] as const
export const INTENTS = [
  'support_request', 'billing', 'sales_inquiry', 'complaint', 'cancellation', 'feedback', 'greeting', 'spam', 'other',
] as const
export type View = (typeof VIEWS)[number]

export interface User {
  id: string
  email: string
  name: string | null
  role: Role
}

export interface Contact {
  id: string
  name: string | null
  emails: string[]
  phones: string[]
  company?: string | null
}

export interface Conversation {
  id: string
  channel: string
  status: Status
  priority: Priority | null
  assignee_id: string | null
  labels: string[]
  last_intent: string | null
  last_message_at: string
  waiting_since: string | null
  subject: string | null
  last_message: { id: string; direction: 'in' | 'out'; text: string; at: string } | null
  contact?: Contact | null
  contact_id: string
  ticket_id?: string | null
  ticket?: Pick<Ticket, 'status' | 'sla' | 'first_response_at' | 'resolved_at'> | null
}

export interface Message {
  id: string
  conversation_id: string
  direction: 'in' | 'out'
  kind: 'message' | 'note' | 'activity'
  sender: { type: string; name?: string | null; email?: string | null }
  text: string
  subject?: string | null
  created_at: string
  attachments: { name: string; content_type?: string; size?: number }[]
  delivery?: { status: 'pending' | 'sent' | 'failed'; error: string | null }
  nlp?: { status: string; intent?: string; confidence?: number; language?: string; sentiment?: { label: string } }
}

export type Counts = Record<View, Record<Status, number>>

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface StreamEvent {
  type: string
  data: Record<string, unknown>
}

export const DEAL_STAGES = ['new', 'qualified', 'proposal', 'won', 'lost'] as const
export type DealStage = (typeof DEAL_STAGES)[number]

export interface Deal {
  id: string
  title: string
  stage: DealStage
  value: number | null
  currency: string | null
  owner_id: string | null
  contact_id: string
}

export interface Lead {
  id: string
  contact_id: string
  score: number
  status: 'new' | 'qualified' | 'converted' | 'lost'
  owner_id: string | null
  signals: { signal: string; points: number; evidence: string }[]
  created_at: string
}

export const TICKET_STATUSES = ['open', 'pending', 'resolved', 'closed'] as const

export interface Ticket {
  id: string
  conversation_id: string
  subject: string
  intent: string
  status: (typeof TICKET_STATUSES)[number]
  priority: Priority
  assignee_id: string | null
  sla: { first_response_due: string; resolution_due: string }
  first_response_at: string | null
  resolved_at: string | null
  classification?: { confidence: number; model: string; low_confidence: boolean } | null
}
