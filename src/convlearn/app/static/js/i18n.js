// Labels of the page in English or Chinese, from the catalogue the server sends (/api/messages).
import { getJSON } from "./api.js";

let lang = "en";
let messages = {};
const listeners = [];

/** The language from the browser's preferences: Chinese for zh*, else English. */
export function browserLang() {
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const p of prefs) {
    const v = String(p).toLowerCase();
    if (v.startsWith("zh")) return "zh";
    if (v.startsWith("en")) return "en";
  }
  return "en";
}

export function currentLang() { return lang; }

/** A catalogue text for the page: the backticks that mark code in the terminal are dropped. */
export function plain(text) { return String(text).replace(/`/g, ""); }

/** Translate `key`, filling {placeholders} from `params`; the key itself if it is unknown. */
export function t(key, params = {}) {
  const template = messages[key];
  if (template === undefined) return key;
  return plain(template).replace(/\{(\w+)(?::[^}]*)?\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Fill every element with data-i18n (its text) or data-i18n-title (its title) under `root`. */
export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function onLangChange(fn) { listeners.push(fn); }

/** Load the labels of `next` and redraw: the page's static text, then every listener. */
export async function setLang(next) {
  const data = await getJSON(`/api/messages?lang=${encodeURIComponent(next)}`);
  lang = data.lang;
  messages = data.messages;
  document.documentElement.lang = lang === "zh" ? "zh-Hans" : "en";
  document.title = t("app_page_title");
  for (const b of document.querySelectorAll("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  apply();
  for (const fn of listeners) fn(lang);
}
