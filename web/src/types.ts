// The shapes the hub's API returns (see /api/openapi.json); only the fields the console reads.
// A channel's name, from the hub's channel registry (stores/channels.ts reads the list).
export type Channel = string
export interface ChannelState {
  name: Channel
  status: 'ok' | 'down' | 'off'
  problem?: string
}
// The server's vocabularies, from its OpenAPI document (src/api-schema.ts is generated from
// openapi.json by `npm run types`; the test command fails when either is stale).
export {
  roleValues as ROLES,
  conversationStatusValues as STATUSES,
  priorityValues as PRIORITIES,
  intentValues as INTENTS,
  dealStageValues as DEAL_STAGES,
  ticketStatusValues as TICKET_STATUSES,
  campaignStatusValues as CAMPAIGN_STATUSES,
} from './api-schema'
import { conversationStatusValues } from './api-schema'
// Every conversation status, for a filter that wants them all (a contact's whole history).
export const ACTIVE_AND_RESOLVED = conversationStatusValues.join(',')
export type {
  Role,
  ConversationStatus as Status,
  Priority,
  DealStage,
  LeadStatus,
  CampaignStatus,
  LiveEvent,
  TicketStatus,
  JobStatus,
} from './api-schema'
import type { Role, ConversationStatus as Status, Priority, DealStage, LeadStatus, LiveEvent, TicketStatus, JobStatus } from './api-schema'
export const VIEWS = ['mine', 'unassigned', 'all'] as const
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
  tier?: string | null // the customer tier (customer-value.ts names it in the console's language)
  // In lists: their dealings at a glance.
  channels?: string[]
  last_contact_at?: string | null
  open_conversations?: number
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
  updated_at?: string // when staff or the hub last changed it (a live event older than this is stale)
  waiting_since: string | null
  subject: string | null
  last_message: { id: string; direction: 'in' | 'out'; author?: string | null; text: string; files?: number; at: string } | null
  inbound_count?: number
  seen_inbound_count?: number
  contact?: Contact | null
  contact_id: string
  ticket_id?: string | null
  ticket?: Pick<Ticket, 'status' | 'sla' | 'first_response_at' | 'resolved_at'> | null
  // One conversation read alone: what files its replies can carry (null: text only).
  reply_attachments?: { max_bytes: number; content_types: string[] } | null
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
// GET /api/v1/inbox/facets: filter -> value -> conversations ("none" for no value).
export type Facets = Record<'channel' | 'intent' | 'priority' | 'label' | 'assignee', Record<string, number>>

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface StreamEvent {
  type: LiveEvent
  data: Record<string, unknown>
}

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
  status: LeadStatus
  owner_id: string | null
  signals: { signal: string; points: number; evidence: string }[]
  created_at: string
  contact?: Contact | null
  source_channel?: string | null
}

export interface Job {
  id: string
  kind: string
  status: JobStatus
  attempts: number
  last_error: string | null
  parked_at?: string | null
  created_at: string
  payload: Record<string, unknown>
}

export interface Ticket {
  id: string
  conversation_id: string
  subject: string
  intent: string
  status: TicketStatus
  priority: Priority
  assignee_id: string | null
  sla: { first_response_due: string; resolution_due: string }
  first_response_at: string | null
  resolved_at: string | null
  classification?: { confidence: number; model: string; low_confidence: boolean } | null
  created_at?: string
  contact?: Contact | null // in lists: the customer
}
