// Every request of the console: same-origin, the session cookie, and the CSRF token on changes.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

let csrfToken = ''

export function useCsrf(token: string): void {
  csrfToken = token
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  return request<T>(method, path, body === undefined ? undefined : JSON.stringify(body), 'application/json')
}

/** A file as the request's whole body, its type as the Content-Type. */
export async function upload<T>(path: string, file: Blob): Promise<T> {
  return request<T>('POST', path, file, file.type || 'application/octet-stream')
}

/** A multipart form (its Content-Type, with the boundary, is the browser's). */
export async function postForm<T>(path: string, form: FormData): Promise<T> {
  return request<T>('POST', path, form, null)
}

async function request<T>(method: string, path: string, body: BodyInit | undefined, contentType: string | null): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (body !== undefined && contentType) headers['Content-Type'] = contentType
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken
  const response = await fetch(path, { method, headers, credentials: 'same-origin', body })
  const isJson = response.headers.get('Content-Type')?.includes('application/json') ?? false
  const data: unknown = isJson ? await response.json() : null
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error
    throw new ApiError(response.status, error?.code ?? 'error', error?.message ?? response.statusText)
  }
  return data as T
}

export function query(params: Record<string, string | null | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value)
  const text = search.toString()
  return text ? `?${text}` : ''
}
