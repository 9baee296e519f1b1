import { describe, expect, it } from 'vitest'
import { countdown } from '../sla'

describe('SLA countdowns', () => {
  const now = Date.parse('2026-11-29T12:00:00Z')
  it('counts down, then up once missed, and stops when met', () => {
    expect(countdown('2026-11-29T12:30:00Z', null, now)).toEqual({ breached: false, minutes: 30 })
    expect(countdown('2026-11-29T11:15:00Z', null, now)).toEqual({ breached: true, minutes: 45 })
    expect(countdown('2026-11-29T11:15:00Z', '2026-11-29T11:00:00Z', now)).toBeNull()
  })
})
