import { describe, expect, it } from 'vitest'
import { nextMonday, tomorrowMorning } from '../snooze'

describe('snooze times', () => {
  it('ends tomorrow at nine and next Monday at nine, local time', () => {
    const wednesday = new Date(2026, 11, 9, 15, 30)
    expect(new Date(tomorrowMorning(wednesday))).toEqual(new Date(2026, 11, 10, 9, 0))
    expect(new Date(nextMonday(wednesday))).toEqual(new Date(2026, 11, 14, 9, 0))
    expect(new Date(nextMonday(new Date(2026, 11, 14, 8, 0)))).toEqual(new Date(2026, 11, 21, 9, 0))
  })
})
