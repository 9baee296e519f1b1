import { describe, expect, it } from 'vitest'
import { alertsOn, titleWith, type AlertSink } from '../alerts'

const granted: AlertSink = { permission: 'granted', show: () => undefined }

describe('alerts', () => {
  it('are on where the browser allows them, unless the agent turned them off', () => {
    localStorage.clear()
    expect(alertsOn(granted)).toBe(true)
    expect(alertsOn({ ...granted, permission: 'default' })).toBe(false)
    expect(alertsOn(null)).toBe(false)
    localStorage.setItem('hub.alerts', 'off')
    expect(alertsOn(granted)).toBe(false)
  })

  it('count in the title only when something waits', () => {
    expect(titleWith(3, 'Hub console')).toBe('(3) Hub console')
    expect(titleWith(0, 'Hub console')).toBe('Hub console')
  })
})
