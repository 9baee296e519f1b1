// The hub's websocket: events as they happen, reconnecting with backoff; the caller refetches
// after a reconnect, since events missed meanwhile are not replayed. The hub closes it with
// SESSION_ENDED when the session ends (signed out elsewhere, deactivated, a new role): then it
// stays closed and the caller signs in again.
import type { StreamEvent } from './types'

export const SESSION_ENDED = 4401

export interface Stream {
  send(frame: Record<string, unknown>): void
  close(): void
}

export function openStream(
  onEvent: (event: StreamEvent) => void,
  onReconnect: () => void,
  onSessionEnded: () => void,
): Stream {
  let socket: WebSocket | null = null
  let closed = false
  let delay = 500
  let pending: Record<string, unknown> | null = null

  const connect = (): void => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/stream`)
    socket.onopen = () => {
      delay = 500
      if (pending) socket?.send(JSON.stringify(pending))
    }
    socket.onmessage = (message) => onEvent(JSON.parse(String(message.data)) as StreamEvent)
    socket.onclose = (event) => {
      if (closed) return
      if (event.code === SESSION_ENDED) {
        closed = true
        onSessionEnded()
        return
      }
      setTimeout(() => {
        connect()
        onReconnect()
      }, delay)
      delay = Math.min(delay * 2, 15000)
    }
  }
  connect()
  return {
    send(frame) {
      pending = frame // repeated after a reconnect, so presence survives it
      if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame))
    },
    close() {
      closed = true
      socket?.close()
    },
  }
}
