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

const SOUND = 'hub.sound'
let audio: AudioContext | null = null

export function soundOn(storage: Storage = localStorage): boolean {
  return storage.getItem(SOUND) === 'on'
}

/** Turn the sound on or off (turning it on is a click, which lets the page play it later). */
export function setSound(on: boolean, storage: Storage = localStorage): boolean {
  storage.setItem(SOUND, on ? 'on' : 'off')
  if (on && typeof AudioContext !== 'undefined') {
    audio ??= new AudioContext()
    void audio.resume()
  }
  return on
}

/** A short, soft chime. */
export function chime(): void {
  if (!audio) return
  const tone = audio.createOscillator()
  const volume = audio.createGain()
  tone.frequency.value = 880
  volume.gain.setValueAtTime(0.08, audio.currentTime)
  volume.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25)
  tone.connect(volume).connect(audio.destination)
  tone.start()
  tone.stop(audio.currentTime + 0.25)
}
