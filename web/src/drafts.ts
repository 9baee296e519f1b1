// What an agent was writing in each conversation, kept in this browser across switches and
// reloads (and offline), until it is sent.
const PREFIX = 'hub.draft.'

export interface Draft {
  text: string
  note: boolean
}

export function loadDraft(conversationId: string, storage: Storage = localStorage): Draft | null {
  try {
    const raw = storage.getItem(PREFIX + conversationId)
    const draft = raw ? (JSON.parse(raw) as Partial<Draft>) : null
    return draft && typeof draft.text === 'string' ? { text: draft.text, note: draft.note === true } : null
  } catch {
    return null
  }
}

export function saveDraft(conversationId: string, draft: Draft, storage: Storage = localStorage): void {
  try {
    if (draft.text.trim()) storage.setItem(PREFIX + conversationId, JSON.stringify(draft))
    else storage.removeItem(PREFIX + conversationId)
  } catch {
    // storage full or refused: the draft lives as long as the page, as before
  }
}
