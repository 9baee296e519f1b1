import { defineStore } from 'pinia'
import { ref } from 'vue'
import { openStream, type Stream } from '../stream'
import type { StreamEvent } from '../types'

type Listener = (event: StreamEvent) => void

export interface Viewer {
  id: string
  name: string | null
  typing?: boolean
}

// A typing mark lasts this long after the last one the hub reported (hub.presence.TYPING_SECONDS).
export const TYPING_MS = 6000

/** The one websocket of a signed-in console: every screen listens to the events it shows, and
 * refetches after a reconnect (events missed meanwhile are not replayed). */
export const useLive = defineStore('live', () => {
  const listeners = new Set<Listener>()
  const reconnected = new Set<() => void>()
  // Who has which conversation open, kept here since the first frame (`ready`) carries it all.
  const presence = ref<Record<string, Viewer[]>>({})
  let stream: Stream | null = null

  const typingTimers = new Map<string, ReturnType<typeof setTimeout>>()

  function setViewers(conversationId: string, viewers: Viewer[]): void {
    presence.value = { ...presence.value, [conversationId]: viewers }
    clearTimeout(typingTimers.get(conversationId))
    if (viewers.some((viewer) => viewer.typing)) {
      // No word comes when someone stops typing: the mark fades by itself.
      typingTimers.set(conversationId, setTimeout(() => {
        setViewers(conversationId, (presence.value[conversationId] ?? []).map((viewer) => ({ ...viewer, typing: false })))
      }, TYPING_MS))
    }
  }

  function track(event: StreamEvent): void {
    const data = event.data
    if (event.type === 'ready') presence.value = (data.presence as Record<string, Viewer[]>) ?? {}
    if (event.type === 'presence') setViewers(String(data.conversation_id), data.viewers as Viewer[])
  }

  /** Open the stream; `onSessionEnded` runs when the hub ends the session it was opened with. */
  function start(onSessionEnded: () => void): void {
    if (stream) return
    stream = openStream(
      (event) => {
        track(event)
        listeners.forEach((listener) => listener(event))
      },
      () => reconnected.forEach((refetch) => refetch()),
      () => {
        stream = null
        onSessionEnded()
      },
    )
  }

  function stop(): void {
    stream?.close()
    stream = null
  }

  /** Listen until the returned function is called (a screen's unmount). */
  function listen(listener: Listener, onReconnect?: () => void): () => void {
    listeners.add(listener)
    if (onReconnect) reconnected.add(onReconnect)
    return () => {
      listeners.delete(listener)
      if (onReconnect) reconnected.delete(onReconnect)
    }
  }

  function send(frame: Record<string, unknown>): void {
    stream?.send(frame)
  }

  return { presence, start, stop, listen, send }
})

const REFETCH_MS = 300

/** `call` runs `fn` once, `ms` after the first call since it last ran: a burst of calls makes one
 * run, and calls that never pause still make one every `ms` (a debounce that restarts its timer
 * on each call would never run while events keep coming, as on a busy hub). */
export function atMostEvery(ms: number, fn: () => void): { call: () => void; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | null = null
  return {
    call: () => {
      timer ??= setTimeout(() => {
        timer = null
        fn()
      }, ms)
    },
    cancel: () => {
      if (timer) clearTimeout(timer)
      timer = null
    },
  }
}

/** Calls `refetch` (at most every 300 ms) when an event of one of `types` arrives, and after a
 * reconnect; the returned function stops it. */
export function refetchOn(types: string[], refetch: () => void): () => void {
  const soon = atMostEvery(REFETCH_MS, refetch)
  const unlisten = useLive().listen((event) => {
    if (types.includes(event.type)) soon.call()
  }, soon.call)
  return () => {
    unlisten()
    soon.cancel()
  }
}
