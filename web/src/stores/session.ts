import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, useCsrf } from '../api'
import type { User } from '../types'

interface SessionAnswer {
  user: User
  csrf_token: string
}

export const useSession = defineStore('session', () => {
  const user = ref<User | null>(null)
  const checked = ref(false)

  function start(answer: SessionAnswer): void {
    user.value = answer.user
    useCsrf(answer.csrf_token)
  }

  async function restore(): Promise<void> {
    try {
      start(await api<SessionAnswer>('GET', '/api/v1/auth/session'))
    } catch {
      user.value = null
    } finally {
      checked.value = true
    }
  }

  async function signIn(email: string, password: string): Promise<void> {
    start(await api<SessionAnswer>('POST', '/api/v1/auth/session', { email, password }))
  }

  /** The hub ended the session (signed out elsewhere, deactivated): forget it here too. */
  function forget(): void {
    user.value = null
    useCsrf('')
  }

  async function signOut(): Promise<void> {
    await api('DELETE', '/api/v1/auth/session').catch(() => undefined)
    forget()
  }

  return { user, checked, restore, signIn, signOut, forget }
})
