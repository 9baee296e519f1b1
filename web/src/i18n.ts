import { createI18n } from 'vue-i18n'
import en from './locales/en'
import zhCN from './locales/zh-CN'

export const LOCALES = { en: 'English', 'zh-CN': '简体中文' } as const
export type Locale = keyof typeof LOCALES
const STORED = 'hub.locale'

function initialLocale(): Locale {
  const stored = localStorage.getItem(STORED)
  if (stored && stored in LOCALES) return stored as Locale
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en',
  messages: { en, 'zh-CN': zhCN },
  datetimeFormats: {
    en: { short: { hour: '2-digit', minute: '2-digit', month: 'short', day: 'numeric' } },
    'zh-CN': { short: { hour: '2-digit', minute: '2-digit', month: 'short', day: 'numeric' } },
  },
})

export function chooseLocale(locale: Locale): void {
  i18n.global.locale.value = locale
  localStorage.setItem(STORED, locale)
  document.documentElement.lang = locale
}
