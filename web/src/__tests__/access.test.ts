import { describe, expect, it } from 'vitest'
import { mayOpen, mayWork } from '../access'

describe('what each role sees', () => {
  it('matches the API: reports for managers and admins, inbox work for agents too', () => {
    expect(mayOpen('agent', 'reports')).toBe(false)
    expect(mayOpen('manager', 'reports')).toBe(true)
    expect(mayOpen('sales', 'inbox')).toBe(true)
    expect(mayWork('sales')).toBe(false)
    expect(mayWork('agent')).toBe(true)
    expect(mayOpen(undefined, 'inbox')).toBe(false)
  })
})
