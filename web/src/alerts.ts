// Being told without watching: a browser notification (once the agent turned them on, or the
// browser already allows them), and the unread count in the tab's title.
const PREFERENCE = 'hub.alerts'

export interface AlertSink {
  permission: NotificationPermission
  show: (title: string, body: string, tag: string) => void
}

/** The browser's Notification API, when the page has one. */
export function browserSink(): AlertSink | null {
  if (typeof Notification === 'undefined') return null
  return {
    permission: Notification.permission,
    show: (title, body, tag) => {
      new Notification(title, { body, tag })
    },
  }
}

/** On unless the agent turned them off, and only where the browser allows them. */
export function alertsOn(sink: AlertSink | null, storage: Storage = localStorage): boolean {
  return !!sink && sink.permission === 'granted' && storage.getItem(PREFERENCE) !== 'off'
}

/** Turn them on (asking the browser, which only a click may do) or off; returns whether on. */
export async function setAlerts(on: boolean, storage: Storage = localStorage): Promise<boolean> {
  storage.setItem(PREFERENCE, on ? 'on' : 'off')
  if (!on || typeof Notification === 'undefined') return false
  const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission
  return permission === 'granted'
}

/** "(3) Hub console" while 3 things wait for the agent, the plain name otherwise. */
export function titleWith(count: number, name: string): string {
  return count > 0 ? `(${count}) ${name}` : name
}
