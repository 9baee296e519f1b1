// The automation rules as the hub stores them (crm_core/automation.py), and where the API's
// validation message belongs: "tickets.sla.urgent.first_response_minutes: ..." names a field.
import type { Channel, Priority } from './types'

export const LEAD_SIGNALS = ['budget', 'team_size', 'company', 'timeline', 'request', 'title'] as const

export interface Rules {
  tickets: {
    intents: string[]
    sla: Record<Priority, { first_response_minutes: number; resolution_minutes: number }>
    agent_capacity: number
  }
  leads: { intents: string[]; qualified_score: number; points: Record<string, number> }
  labels: { intent: string; label: string; resolve: boolean }[]
  campaign_triggers: {
    intent: string
    campaign: string
    max_score: number | null
    min_score: number | null
    sentiment: 'positive' | 'neutral' | 'negative' | null
    channel: Channel | null
    attributes: Record<string, unknown>
  }[]
}

/** The field id for a path of the rules ("tickets.sla.urgent.first_response_minutes"). */
export function fieldId(path: string): string {
  return `rule-${path.replace(/\./g, '-')}`
}

/** (the path the API's message names, the message without it); the path is '' when none. */
export function splitMessage(message: string): [string, string] {
  const match = /^([\w.]+): (.*)$/s.exec(message)
  return match ? [match[1] ?? '', match[2] ?? message] : ['', message]
}
