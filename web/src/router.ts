import { createRouter, createWebHistory } from 'vue-router'
import { mayOpen, type Screen } from './access'
import { useSession } from './stores/session'

declare module 'vue-router' {
  interface RouteMeta {
    screen?: Screen
  }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/inbox' },
    { path: '/sign-in', component: () => import('./views/SignIn.vue') },
    { path: '/inbox/:id?', component: () => import('./views/InboxView.vue'), meta: { screen: 'inbox' } },
    { path: '/contacts/:id?', component: () => import('./views/ContactsView.vue'), meta: { screen: 'contacts' } },
    { path: '/tickets', component: () => import('./views/TicketsView.vue'), meta: { screen: 'tickets' } },
    { path: '/sales', component: () => import('./views/SalesView.vue'), meta: { screen: 'sales' } },
    { path: '/campaigns', component: () => import('./views/CampaignsView.vue'), meta: { screen: 'campaigns' } },
    { path: '/segments', component: () => import('./views/SegmentsView.vue'), meta: { screen: 'segments' } },
    { path: '/reports', component: () => import('./views/ReportsView.vue'), meta: { screen: 'reports' } },
    { path: '/settings', component: () => import('./views/SettingsView.vue'), meta: { screen: 'settings' } },
    { path: '/:rest(.*)*', redirect: '/inbox' },
  ],
})

router.beforeEach(async (to) => {
  const session = useSession()
  if (!session.checked) await session.restore()
  const screen = to.meta.screen
  if (!screen) return true
  if (!session.user) return { path: '/sign-in', query: { next: to.fullPath } }
  return mayOpen(session.user.role, screen) ? true : { path: '/inbox' }
})
