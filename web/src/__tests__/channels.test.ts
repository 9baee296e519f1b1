import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useChannels } from '../stores/channels'

describe('the channels store', () => {
  beforeEach(() => setActivePinia(createPinia()))
  afterEach(() => vi.unstubAllGlobals())

  it('lists the channels in the order the hub registry gives them, health included', async () => {
    const items = [
      { name: 'chat', status: 'ok' },
      { name: 'fax', status: 'down', problem: 'line busy' },
      { name: 'email', status: 'off' },
    ]
    const fetch = vi.fn(async () => new Response(JSON.stringify({ items }), { headers: { 'Content-Type': 'application/json' } }))
    vi.stubGlobal('fetch', fetch)
    const channels = useChannels()
    await channels.load()
    expect(fetch).toHaveBeenCalledWith('/api/v1/channels', expect.objectContaining({ method: 'GET' }))
    expect(channels.names).toEqual(['chat', 'fax', 'email'])
    expect(channels.items[1]?.problem).toBe('line busy')
    channels.clear()
    expect(channels.names).toEqual([])
  })
})
