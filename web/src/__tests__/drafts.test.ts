import { describe, expect, it } from 'vitest'
import { loadDraft, saveDraft } from '../drafts'

describe('drafts', () => {
  it('keeps a draft per conversation and forgets an empty one', () => {
    saveDraft('c1', { text: 'half a reply', note: false })
    saveDraft('c2', { text: 'a note', note: true })
    expect(loadDraft('c1')).toEqual({ text: 'half a reply', note: false })
    expect(loadDraft('c2')).toEqual({ text: 'a note', note: true })
    saveDraft('c1', { text: '  ', note: false })
    expect(loadDraft('c1')).toBeNull()
  })

  it('ignores what it cannot read', () => {
    localStorage.setItem('hub.draft.bad', '{not json')
    expect(loadDraft('bad')).toBeNull()
  })
})
