import { afterEach, describe, expect, it, vi } from 'vitest'
import { openStream, SESSION_ENDED } from '../stream'

class FakeSocket {
  static OPEN = 1
  static opened: FakeSocket[] = []
  readyState = 0
  onopen: (() => void) | null = null
  onmessage: ((message: { data: string }) => void) | null = null
  onclose: ((event: { code: number }) => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.opened.push(this)
  }
  send(): void {}
  close(): void {}
}

describe('the hub stream', () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
    FakeSocket.opened = []
  })

  it('reconnects after a dropped connection, but not once the hub ended the session', () => {
    vi.useFakeTimers()
    vi.stubGlobal('WebSocket', FakeSocket)
    const reconnects = vi.fn()
    const ended = vi.fn()
    openStream(() => undefined, reconnects, ended)
    FakeSocket.opened[0]?.onclose?.({ code: 1006 })
    vi.advanceTimersByTime(1000)
    expect(FakeSocket.opened).toHaveLength(2)
    expect(reconnects).toHaveBeenCalledTimes(1)
    FakeSocket.opened[1]?.onclose?.({ code: SESSION_ENDED })
    vi.advanceTimersByTime(60000)
    expect(FakeSocket.opened).toHaveLength(2)
    expect(ended).toHaveBeenCalledTimes(1)
  })
})
