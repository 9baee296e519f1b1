// What each role may do in the console: the same rules as the API's (hub/api/routing.py), so
// no one sees a control the API would refuse.
import type { Role } from './types'

export const ALL_STAFF: readonly Role[] = ['admin', 'agent', 'sales', 'manager']
export const INBOX_WORKERS: readonly Role[] = ['admin', 'agent', 'manager']
export const MANAGERS: readonly Role[] = ['admin', 'manager']

export const SALES_TEAM: readonly Role[] = ['admin', 'sales', 'manager']
export const ADMINS: readonly Role[] = ['admin']

export const SCREENS = {
  inbox: ALL_STAFF,
  contacts: ALL_STAFF,
  tickets: INBOX_WORKERS,
  sales: SALES_TEAM,
  campaigns: SALES_TEAM,
  reports: MANAGERS,
  settings: ADMINS,
} as const
export type Screen = keyof typeof SCREENS

export function mayOpen(role: Role | undefined, screen: Screen): boolean {
  return role !== undefined && SCREENS[screen].includes(role)
}

export function mayWork(role: Role | undefined): boolean {
  return role !== undefined && INBOX_WORKERS.includes(role)
}
