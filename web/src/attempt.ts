// What every screen that changes data does: run the change, show the API's message if it fails.
import { ref, type Ref } from 'vue'

export function useAttempt(after?: () => Promise<unknown>): {
  error: Ref<string>
  attempt: (action: () => Promise<unknown>) => Promise<void>
} {
  const error = ref('')
  async function attempt(action: () => Promise<unknown>): Promise<void> {
    error.value = ''
    try {
      await action()
      if (after) await after()
    } catch (caught) {
      error.value = caught instanceof Error ? caught.message : String(caught)
    }
  }
  return { error, attempt }
}
