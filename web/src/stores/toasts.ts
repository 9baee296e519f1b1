// Short confirmations and failures ("3 conversations resolved"), announced politely and gone
// after a few seconds unless the pointer rests on them.
import { defineStore } from 'pinia'
import { ref } from 'vue'

export interface Toast {
  id: number
  text: string
  tone: 'info' | 'error'
}

export const TOAST_SECONDS = 5

export const useToasts = defineStore('toasts', () => {
  const shown = ref<Toast[]>([])
  let next = 1

  function dismiss(id: number): void {
    shown.value = shown.value.filter((toast) => toast.id !== id)
  }

  function say(text: string, tone: Toast['tone'] = 'info'): void {
    const id = next++
    shown.value = [...shown.value.slice(-2), { id, text, tone }]
    setTimeout(() => dismiss(id), TOAST_SECONDS * 1000)
  }

  return { shown, say, dismiss }
})
