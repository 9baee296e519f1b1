import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api } from '../api'
import type { ChannelState } from '../types'

/** The hub's channels, as its registry lists them (GET /api/v1/channels), with their health:
 * fetched once per signed-in console, so a channel added to the hub shows up everywhere. */
export const useChannels = defineStore('channels', () => {
  const items = ref<ChannelState[]>([])
  const names = computed(() => items.value.map((channel) => channel.name))

  async function load(): Promise<void> {
    items.value = (await api<{ items: ChannelState[] }>('GET', '/api/v1/channels')).items
  }

  function clear(): void {
    items.value = []
  }

  return { items, names, load, clear }
})
