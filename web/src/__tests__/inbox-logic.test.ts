import { describe, expect, it } from 'vitest'
import { applyChange, isStale, neighbour, shows, type InboxFilter } from '../inbox-logic'
import type { Conversation } from '../types'

const me = 'u1'
const all: InboxFilter = { view: 'all', status: 'open', channel: null, label: null, intent: null, priority: null, q: null }

function conversation(id: string, at: string, fields: Partial<Conversation> = {}): Conversation {
  return {
    id, channel: 'chat', status: 'open', priority: null, assignee_id: null, labels: [], last_intent: null,
    last_message_at: at, waiting_since: null, subject: null, last_message: null, contact_id: 'c', ...fields,
  }
}

describe('which conversations a view shows', () => {
  it('follows view, status and channel', () => {
    const mine = conversation('a', '2026-01-01', { assignee_id: me })
    expect(shows({ ...all, view: 'mine' }, mine, me)).toBe(true)
    expect(shows({ ...all, view: 'unassigned' }, mine, me)).toBe(false)
    expect(shows({ ...all, status: 'resolved' }, mine, me)).toBe(false)
    expect(shows({ ...all, channel: 'email' }, mine, me)).toBe(false)
    expect(shows({ ...all, label: 'vip' }, { ...mine, labels: ['vip'] }, me)).toBe(true)
    expect(shows({ ...all, label: 'vip' }, mine, me)).toBe(false)
    expect(shows({ ...all, intent: 'billing' }, { ...mine, last_intent: 'billing' }, me)).toBe(true)
    expect(shows({ ...all, priority: 'high' }, mine, me)).toBe(false)
  })
})

describe('a live change', () => {
  it('puts new activity on top and keeps the contact already shown', () => {
    const list = [conversation('a', '2026-01-03'), conversation('b', '2026-01-02', { contact: { id: 'c', name: 'Bo', emails: [], phones: [] } })]
    const next = applyChange(list, conversation('b', '2026-01-04'), all, me)
    expect(next.map((c) => c.id)).toEqual(['b', 'a'])
    expect(next[0]?.contact?.name).toBe('Bo')
  })

  it('removes a conversation the view no longer shows', () => {
    const list = [conversation('a', '2026-01-03')]
    expect(applyChange(list, conversation('a', '2026-01-03', { status: 'resolved' }), all, me)).toEqual([])
  })

  it('adds no stranger to search results', () => {
    expect(applyChange([], conversation('z', '2026-01-05'), { ...all, q: 'refund' }, me)).toEqual([])
  })

  it('ignores an event older than the state shown, and takes one as new or newer', () => {
    const unassigned = conversation('a', '2026-01-05', { assignee_id: null, updated_at: '2026-01-05T10:00:02Z' })
    const late = conversation('a', '2026-01-05', { assignee_id: 'tia', updated_at: '2026-01-05T10:00:01Z' })
    expect(isStale(unassigned, late)).toBe(true)
    expect(applyChange([unassigned], late, all, me)).toEqual([unassigned])
    const later = { ...late, updated_at: '2026-01-05T10:00:03Z' }
    expect(applyChange([unassigned], later, all, me)[0]?.assignee_id).toBe('tia')
    expect(isStale(unassigned, { ...late, updated_at: undefined })).toBe(false) // no time: taken
  })

  it('places an older change in order', () => {
    const list = [conversation('a', '2026-01-05'), conversation('b', '2026-01-01')]
    expect(applyChange(list, conversation('c', '2026-01-03'), all, me).map((c) => c.id)).toEqual(['a', 'c', 'b'])
  })
})

describe('j and k', () => {
  const list = [conversation('a', '3'), conversation('b', '2'), conversation('c', '1')]
  it('moves one row and stops at the ends', () => {
    expect(neighbour(list, 'a', 1)).toBe('b')
    expect(neighbour(list, 'c', 1)).toBe('c')
    expect(neighbour(list, 'a', -1)).toBe('a')
    expect(neighbour(list, null, 1)).toBe('a')
    expect(neighbour([], null, 1)).toBeNull()
  })
})
