// Files attached in the composer: checked here against what the conversation's channel carries
// (the hub checks again and refuses before the upload ends), uploaded when the message is sent.
import { upload } from './api'

export interface FilePolicy {
  max_bytes: number
  content_types: string[]
}

export const MAX_FILES = 5

export type Refusal = { reason: 'type' | 'size' | 'textOnly' | 'count'; limit?: number }

/** Why `file` cannot go with a reply under `policy` (null: text only), or null if it can. */
export function refusal(file: { type: string; size: number }, policy: FilePolicy | null, attached: number): Refusal | null {
  if (attached >= MAX_FILES) return { reason: 'count', limit: MAX_FILES }
  if (!policy) return { reason: 'textOnly' }
  if (!policy.content_types.includes(file.type)) return { reason: 'type' }
  if (file.size > policy.max_bytes) return { reason: 'size', limit: policy.max_bytes }
  return null
}

/** A pasted image has a generic name ("image.png"); give it one that says when. */
export function pastedName(file: File, at: Date): string {
  const stamp = at.toISOString().slice(0, 19).replace(/[:T]/g, '-')
  const extension = file.type.split('/')[1] ?? 'bin'
  return `pasted-${stamp}.${extension}`
}

export async function uploadAll(conversationId: string, files: File[], purpose: 'reply' | 'note'): Promise<string[]> {
  const ids: string[] = []
  for (const file of files) {
    const path = `/api/v1/conversations/${conversationId}/attachments?purpose=${purpose}&name=${encodeURIComponent(file.name)}`
    ids.push((await upload<{ id: string }>(path, file)).id)
  }
  return ids
}
