import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import { api, query } from '../api'
import { uploadAll } from '../uploads'
import { applyChange, isStale, unread, type InboxFilter } from '../inbox-logic'
import { mayWork } from '../access'
import { useSession } from './session'
import { useAlerts } from './alerts'
import { refetchOn, useLive } from './live'
import type { Conversation, Counts, Facets, Message, Page, StreamEvent, User } from '../types'

export const useInbox = defineStore('inbox', () => {
  const filter = reactive<InboxFilter>({
    view: 'all', status: 'open', channel: null, label: null, intent: null, priority: null, q: null,
  })
  const items = ref<Conversation[]>([])
  const nextCursor = ref<string | null>(null)
  const counts = ref<Counts | null>(null)
  const facets = ref<Facets | null>(null) // each filter value's conversations, the others applied
  const staff = ref<User[]>([])
  const selectedId = ref<string | null>(null)
  const selected = ref<Conversation | null>(null)
  const messages = ref<Message[]>([])
  const loading = ref(false)
  const chosen = ref<string[]>([]) // the conversations picked for a bulk action, in list order
  let lastChosen: string | null = null
  let userId = ''
  let unlisten: (() => void) | null = null

  const listParams = computed(() => ({
      status: filter.status,
      channel: filter.channel,
      label: filter.label,
      intent: filter.intent,
      priority: filter.priority,
      q: filter.q,
    assignee: filter.view === 'mine' ? 'me' : filter.view === 'unassigned' ? 'none' : null,
  }))

  async function load(): Promise<void> {
    loading.value = true
    try {
      const page = await api<Page<Conversation>>('GET', `/api/v1/conversations${query(listParams.value)}`)
      items.value = page.items
      nextCursor.value = page.next_cursor
      chosen.value = chosen.value.filter((id) => page.items.some((c) => c.id === id))
      useAlerts().remember(page.items)
    } finally {
      loading.value = false
    }
    void refreshCounts()
  }

  async function loadMore(): Promise<void> {
    if (!nextCursor.value || loading.value) return
    loading.value = true
    try {
      const page = await api<Page<Conversation>>(
        'GET',
        `/api/v1/conversations${query({ ...listParams.value, cursor: nextCursor.value })}`,
      )
      const known = new Set(items.value.map((c) => c.id))
      items.value = [...items.value, ...page.items.filter((c) => !known.has(c.id))]
      nextCursor.value = page.next_cursor
    } finally {
      loading.value = false
    }
  }

  async function refreshCounts(): Promise<void> {
    const [views, found] = await Promise.all([
      api<Counts>('GET', '/api/v1/inbox/counts'),
      api<{ facets: Facets | null }>('GET', `/api/v1/inbox/facets${query(listParams.value)}`),
    ])
    counts.value = views
    facets.value = found.facets
  }

  // The customer's messages count as read once staff have the conversation in front of them.
  let marking: string | null = null
  async function markSeen(conversation: Conversation): Promise<void> {
    if (unread(conversation) === 0 || marking === conversation.id || document.visibilityState !== 'visible') return
    if (!mayWork(useSession().user?.role)) return
    marking = conversation.id
    try {
      await api('POST', `/api/v1/conversations/${conversation.id}/seen`)
    } finally {
      marking = null
    }
  }


  async function select(id: string | null): Promise<void> {
    selectedId.value = id
    useLive().send({ type: 'viewing', conversation_id: id })
    if (!id) {
      selected.value = null
      messages.value = []
      return
    }
    const [conversation, page] = await Promise.all([
      api<Conversation>('GET', `/api/v1/conversations/${id}`),
      api<Page<Message>>('GET', `/api/v1/conversations/${id}/messages?limit=200`),
    ])
    if (selectedId.value !== id) return // another was picked meanwhile
    selected.value = conversation
    void markSeen(conversation)
    messages.value = page.items
  }

  async function send(text: string, isPrivate: boolean, mentions: string[] = [], files: File[] = []): Promise<void> {
    const id = selectedId.value
    if (!id) return
    const attachments = await uploadAll(id, files, isPrivate ? 'note' : 'reply')
    const message = await api<Message>('POST', `/api/v1/conversations/${id}/messages`, {
      text,
      private: isPrivate,
      ...(mentions.length ? { mentions } : {}),
      ...(attachments.length ? { attachments } : {}),
    })
    addMessage(message)
  }

  async function change(changes: Record<string, unknown>): Promise<void> {
    const id = selectedId.value
    if (!id) return
    useAlerts().changedByMe([id])
    const updated = await api<Conversation>('PATCH', `/api/v1/conversations/${id}`, changes)
    conversationChanged(updated)
  }

  /** Pick or unpick a conversation for a bulk action; with `range`, everything between the last
   * one picked and this one takes this one's new state (shift-click). */
  function choose(id: string, range = false): void {
    const on = !chosen.value.includes(id)
    let ids = [id]
    const from = lastChosen === null ? -1 : items.value.findIndex((c) => c.id === lastChosen)
    const to = items.value.findIndex((c) => c.id === id)
    if (range && from >= 0 && to >= 0) {
      ids = items.value.slice(Math.min(from, to), Math.max(from, to) + 1).map((c) => c.id)
    }
    const next = new Set(chosen.value)
    for (const each of ids) {
      if (on) next.add(each)
      else next.delete(each)
    }
    chosen.value = items.value.map((c) => c.id).filter((each) => next.has(each))
    lastChosen = id
  }

  function clearChosen(): void {
    chosen.value = []
    lastChosen = null
  }

  /** One change to every picked conversation, in one request; the list takes the results. */
  async function changeChosen(changes: Record<string, unknown>): Promise<void> {
    const ids = [...chosen.value]
    if (!ids.length) return
    useAlerts().changedByMe(ids)
    clearChosen() // at once: what is picked while the request runs is the next selection
    let page: { items: Conversation[] }
    try {
      page = await api<{ items: Conversation[] }>('POST', '/api/v1/conversations/bulk', { ids, ...changes })
    } catch (failed) {
      if (!chosen.value.length) chosen.value = ids // picked again, with the reason beside them
      throw failed
    }
    for (const conversation of page.items) conversationChanged(conversation)
    void refreshCounts()
  }

  function addMessage(message: Message): void {
    if (message.conversation_id !== selectedId.value) return
    const rest = messages.value.filter((m) => m.id !== message.id)
    messages.value = [...rest, message].sort((a, b) => a.created_at.localeCompare(b.created_at))
  }

  function conversationChanged(conversation: Conversation): void {
    items.value = applyChange(items.value, conversation, filter, userId)
    if (selected.value?.id === conversation.id && !isStale(selected.value, conversation)) {
      selected.value = { ...conversation, contact: selected.value.contact, reply_attachments: selected.value.reply_attachments }
      void markSeen(conversation)
    }
    if (!conversation.contact && items.value.some((c) => c.id === conversation.id && !c.contact)) {
      void withContact(conversation.id)
    }
  }

  async function withContact(id: string): Promise<void> {
    const full = await api<Conversation>('GET', `/api/v1/conversations/${id}`)
    items.value = items.value.map((c) => (c.id === id ? { ...c, contact: full.contact } : c))
  }

  function onEvent(event: StreamEvent): void {
    const data = event.data
    if (event.type === 'conversation.created' || event.type === 'conversation.updated') {
      conversationChanged(data as unknown as Conversation)
    } else if (event.type === 'message.created' || event.type === 'message.updated') {
      addMessage(data as unknown as Message)
    }
  }

  async function start(user: User): Promise<void> {
    userId = user.id
    unlisten?.()
    const unlistenEvents = useLive().listen(onEvent, () => void load())
    const unlistenCounts = refetchOn(['conversation.created', 'conversation.updated'], () => void refreshCounts())
    unlisten = () => {
      unlistenEvents()
      unlistenCounts()
    }
    if (selectedId.value) useLive().send({ type: 'viewing', conversation_id: selectedId.value })
    staff.value = (await api<Page<User>>('GET', '/api/v1/staff')).items
    await load()
  }

  function stop(): void {
    unlisten?.()
    unlisten = null
    useLive().send({ type: 'viewing', conversation_id: null })
  }

  return {
    filter, items, nextCursor, counts, facets, staff, selectedId, selected, messages, loading, chosen,
    load, loadMore, select, send, change, start, stop, choose, clearChosen, changeChosen,
  }
})
