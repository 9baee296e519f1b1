import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { atMostEvery } from '../stores/live'

describe('refetching after live events', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('makes one refetch of a burst of events', () => {
    const refetch = vi.fn()
    const soon = atMostEvery(300, refetch)
    for (let i = 0; i < 10; i++) soon.call()
    vi.advanceTimersByTime(299)
    expect(refetch).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(refetch).toHaveBeenCalledTimes(1)
  })

  it('keeps refetching while events never pause', () => {
    const refetch = vi.fn()
    const soon = atMostEvery(300, refetch)
    for (let ms = 0; ms < 3000; ms += 100) {
      soon.call()
      vi.advanceTimersByTime(100)
    }
    expect(refetch.mock.calls.length).toBeGreaterThanOrEqual(9)
  })

  it('refetches nothing once the screen stops listening', () => {
    const refetch = vi.fn()
    const soon = atMostEvery(300, refetch)
    soon.call()
    soon.cancel()
    vi.advanceTimersByTime(1000)
    expect(refetch).not.toHaveBeenCalled()
  })
})
