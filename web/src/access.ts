// What each role may do in the console: the role groups of the API's routes, from its OpenAPI
// document (src/api-schema.ts), so no one sees a control the API would refuse.
import {
  adminRoleValues,
  allStaffRoleValues,
  inboxWorkerRoleValues,
  managerRoleValues,
  salesTeamRoleValues,
} from './api-schema'
import type { Role } from './types'

export const ALL_STAFF: readonly Role[] = allStaffRoleValues
export const INBOX_WORKERS: readonly Role[] = inboxWorkerRoleValues
export const MANAGERS: readonly Role[] = managerRoleValues
export const SALES_TEAM: readonly Role[] = salesTeamRoleValues
export const ADMINS: readonly Role[] = adminRoleValues

export const SCREENS = {
  inbox: ALL_STAFF,
  contacts: ALL_STAFF,
  tickets: INBOX_WORKERS,
  sales: SALES_TEAM,
  campaigns: SALES_TEAM,
  segments: SALES_TEAM,
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

/** Whether tables offer CSV export and contacts may be imported: the roles the API gives the
 * reports' CSV and imports. */
export function mayMoveData(role: Role | undefined): boolean {
  return role !== undefined && MANAGERS.includes(role)
}
