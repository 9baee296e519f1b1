import { describe, expect, it } from 'vitest'
import { timeline, type Relationship } from '../timeline'

describe('timeline', () => {
  it('puts every moment of the relationship in one list, newest first', () => {
    const related = {
      conversations: [{ id: 'c1', channel: 'email', created_at: '2026-01-01T10:00:00Z', last_message: { id: 'm', direction: 'in', text: 'where is it?', at: '2026-01-03T09:00:00Z' } }],
      tickets: [{ id: 't1', conversation_id: 'c1', subject: 'Late parcel', created_at: '2026-01-01T10:01:00Z', resolved_at: '2026-01-04T08:00:00Z' }],
      leads: [{ id: 'l1', score: 70, created_at: '2026-01-02T00:00:00Z' }],
      deals: [],
      enrolments: [{ id: 'e1', campaign_id: 'x', status: 'active' }],
    } as unknown as Relationship
    expect(timeline(related).map((m) => [m.kind, m.text])).toEqual([
      ['ticketResolved', 'Late parcel'],
      ['lastMessage', 'where is it?'],
      ['leadCreated', '70'],
      ['ticketOpened', 'Late parcel'],
      ['conversationStarted', 'email'],
    ])
    expect(timeline(related)[0]?.link).toBe('/inbox/c1')
  })
})
