// Tells the agent, by a browser notification, what concerns them while they look elsewhere:
// a conversation assigned to them, a customer answering one of theirs, a mention, a lead or an
// SLA about to breach or breached (the hub's notifications). Changes the agent made themselves are not news.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { alertsOn, browserSink, chime, setAlerts, setSound, soundOn } from '../alerts'
import { useLive } from './live'
import type { Conversation, Message, StreamEvent } from '../types'

const OWN_CHANGE_MS = 5000
export type AlertKind = 'assigned' | 'answered' | 'notice'

export const useAlerts = defineStore('alerts', () => {
  const on = ref(alertsOn(browserSink()))
  const sound = ref(soundOn())
  const assignees = new Map<string, string | null>() // conversation -> assignee, as last seen
  const mine = new Map<string, number>() // conversation -> when this agent last changed it
  let me = ''
  let unlisten: (() => void) | null = null
  let label: (what: AlertKind) => string = (what) => what

  function show(title: string, body: string, tag: string): void {
    const sink = browserSink()
    if (alertsOn(sink)) sink?.show(title, body, tag) // read now: the agent may have allowed them since
    if (sound.value) chime()
  }

  function changedByMe(ids: string[]): void {
    const now = Date.now()
    for (const id of ids) mine.set(id, now)
  }

  function onEvent(event: StreamEvent): void {
    if (event.type === 'notification.created') {
      const notice = event.data as { text?: string; id?: string }
      show(label('notice'), notice.text ?? '', `notice-${notice.id ?? ''}`)
    } else if (event.type === 'conversation.created' || event.type === 'conversation.updated') {
      const conversation = event.data as unknown as Conversation
      const before = assignees.get(conversation.id)
      assignees.set(conversation.id, conversation.assignee_id)
      const ownChange = Date.now() - (mine.get(conversation.id) ?? 0) < OWN_CHANGE_MS
      if (conversation.assignee_id === me && before !== me && !ownChange) {
        show(label('assigned'), conversation.last_message?.text ?? '', `assigned-${conversation.id}`)
      }
    } else if (event.type === 'message.created') {
      const message = event.data as unknown as Message
      if (message.direction === 'in' && message.kind === 'message' && assignees.get(message.conversation_id) === me) {
        show(label('answered'), message.text, `answered-${message.id}`)
      }
    }
  }

  function start(userId: string, labelOf: (what: AlertKind) => string): void {
    me = userId
    label = labelOf
    unlisten ??= useLive().listen(onEvent)
  }

  function remember(known: Conversation[]): void {
    for (const conversation of known) assignees.set(conversation.id, conversation.assignee_id)
  }

  function stop(): void {
    unlisten?.()
    unlisten = null
  }

  async function toggle(): Promise<void> {
    on.value = await setAlerts(!on.value)
  }

  function toggleSound(): void {
    sound.value = setSound(!sound.value)
  }

  return { on, sound, start, stop, toggle, toggleSound, changedByMe, remember }
})
