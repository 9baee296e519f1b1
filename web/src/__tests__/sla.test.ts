import { describe, expect, it } from 'vitest'
import { countdown, dueState } from '../sla'

describe('SLA countdowns', () => {
  const now = Date.parse('2026-11-29T12:00:00Z')
  it('counts down, then up once missed, and stops when met', () => {
    expect(countdown('2026-11-29T12:30:00Z', null, now)).toEqual({ breached: false, minutes: 30 })
    expect(countdown('2026-11-29T11:15:00Z', null, now)).toEqual({ breached: true, minutes: 45 })
    expect(countdown('2026-11-29T11:15:00Z', '2026-11-29T11:00:00Z', now)).toBeNull()
  })

  it('says it in words and marks a miss as late', () => {
    const t = (key: string, values: Record<string, unknown>) => `${key}:${values.minutes ?? ''}`
    expect(dueState(t, '2026-11-29T12:30:00Z', null, now)).toEqual({ text: 'tickets.left:30', late: false })
    expect(dueState(t, '2026-11-29T11:15:00Z', null, now)).toEqual({ text: 'tickets.overdue:45', late: true })
    expect(dueState(t, '2026-11-29T11:15:00Z', '2026-11-29T11:00:00Z', now)).toEqual({ text: 'tickets.met:', late: false })
  })
})

describe('where a rules error belongs', () => {
  it('names the field of the path', async () => {
    const { fieldId, splitMessage } = await import('../rules')
    expect(splitMessage('tickets.sla.urgent.first_response_minutes: Input should be greater than or equal to 1')).toEqual([
      'tickets.sla.urgent.first_response_minutes',
      'Input should be greater than or equal to 1',
    ])
    expect(fieldId('labels.0.label')).toBe('rule-labels-0-label')
    expect(splitMessage('something broke')).toEqual(['', 'something broke'])
  })
})
