// The patient's page and the public free-beds board. Plain JS on the gateway's JSON API
// (/v1/...): protobuf's canonical JSON, errors as {"error": {"status", "message"}}, live
// status as Server-Sent Events, the patient's own cancellation. No build step.
"use strict";

const TEXT = {
  kk: {
    title: "Емдеуге жатқызу бюросы", skip: "Мазмұнға өту",
    checkTitle: "Менің жолдамам", checkHelp: "Талондағы емдеуге жатқызу кодын және қолжеткізу кілтін енгізіңіз.",
    codeLabel: "Емдеуге жатқызу коды", codeHint: "Мысалы: 61.01W9.321.72S", keyLabel: "Қолжеткізу кілті", checkButton: "Тексеру",
    statusLabel: "Мәртебе", hospitalLabel: "Аурухана", profileLabel: "Төсек бейіні", plannedLabel: "Жоспарлы күні",
    positionLabel: "Кезектегі орын", reasonLabel: "Соңғы өзгеріс", asOf: "Деректер уақыты", historyTitle: "Тарих",
    live: "Өзгерістер бірден көрсетіледі", reconnecting: "Қайта қосылуда…",
    ahead: (n) => `алдыңызда ${n} адам`, notInQueue: "кезекте емес",
    bedsTitle: "Бос төсектер", regionLabel: "Өңір", allRegions: "Барлық өңірлер", bedProfileLabel: "Төсек бейіні",
    adults: "Ересектер", children: "Балалар", showButton: "Көрсету",
    staleNote: "Белгіленген сандар көптен бері жаңартылмаған және дәл болмауы мүмкін.",
    colHospital: "Аурухана", colRegion: "Өңір", colEarliest: "Ең жақын күн", colSlots: "Кезеңдегі орын", colFree: "Бос төсек", colQueue: "Кезекте",
    stale: "ескірген", neverReported: "хабарланбаған", noBeds: "Бұл кезеңде бос орын табылмады.",
    bedsFor: (age, name) => `${age}: ${name}`,
    footer: "Кілтсіз код ештеңе көрсетпейді. Кілтті бөгде адамдарға айтпаңыз.",
    errors: { NOT_FOUND: "Код немесе кілт дұрыс емес.", INVALID_ARGUMENT: "Код пен кілтті тексеріңіз.", FAILED_PRECONDITION: "Жолдама енді белсенді емес.", RESOURCE_EXHAUSTED: "Тым көп сұрау. Кейінірек қайталаңыз.", UNAVAILABLE: "Қызмет уақытша қолжетімсіз.", other: "Қате орын алды." },
    retryIn: (minutes) => `Тым көп сұрау. ${minutes} минуттан кейін қайталаңыз.`,
    cancelButton: "Жолдамадан бас тарту", cancelQuestion: "Жолдамадан бас тартасыз ба? Орын босатылады, оны қайтару мүмкін емес.",
    cancelReasonLabel: "Себебі", cancelReasonPick: "— таңдаңыз —", reasonPatientRequest: "Өз қалауым бойынша", reasonHealthImproved: "Жағдайым жақсарды",
    reasonHospitalizedElsewhere: "Басқа ауруханаға жатқызылдым", reasonOther: "Басқа себеп", cancelTextLabel: "Себебін жазыңыз",
    cancelConfirm: "Иә, бас тарту", cancelBack: "Жоқ, қалдыру", cancelInvalid: "Себебін таңдаңыз («Басқа себеп» үшін оны жазыңыз).",
    status: { REFERRAL_STATUS_REGISTERED: "Тіркелген, аурухана растауын күтуде", REFERRAL_STATUS_SCHEDULED: "Күні расталды", REFERRAL_STATUS_ADMITTED: "Ауруханаға жатқызылды", REFERRAL_STATUS_REFUSED: "Жатқызудан бас тартылды", REFERRAL_STATUS_CANCELLED: "Жолдама жойылды", REFERRAL_STATUS_NO_SHOW: "Келмеді — жолдама жойылды" },
    action: { REGISTERED: "Тіркелді", SCHEDULED: "Күні расталды", RESCHEDULED: "Күні өзгертілді", ADMITTED: "Жатқызылды", REFUSED: "Бас тартылды", CANCELLED: "Жойылды", NO_SHOW: "Келмеді" },
  },
  ru: {
    title: "Бюро госпитализации", skip: "Перейти к содержанию",
    checkTitle: "Моё направление", checkHelp: "Введите код госпитализации и ключ доступа с талона.",
    codeLabel: "Код госпитализации", codeHint: "Например: 61.01W9.321.72S", keyLabel: "Ключ доступа", checkButton: "Проверить",
    statusLabel: "Статус", hospitalLabel: "Больница", profileLabel: "Профиль койки", plannedLabel: "Плановая дата",
    positionLabel: "Место в очереди", reasonLabel: "Последнее изменение", asOf: "Данные на", historyTitle: "История",
    live: "Изменения показываются сразу", reconnecting: "Переподключение…",
    ahead: (n) => `перед вами ${n} чел.`, notInQueue: "не в очереди",
    bedsTitle: "Свободные койки", regionLabel: "Регион", allRegions: "Все регионы", bedProfileLabel: "Профиль койки",
    adults: "Взрослые", children: "Дети", showButton: "Показать",
    staleNote: "Отмеченные числа давно не обновлялись и могут быть неточны.",
    colHospital: "Больница", colRegion: "Регион", colEarliest: "Ближайшая дата", colSlots: "Мест на период", colFree: "Свободно коек", colQueue: "В очереди",
    stale: "устарело", neverReported: "нет данных", noBeds: "На этот период свободных мест не найдено.",
    bedsFor: (age, name) => `${age}: ${name}`,
    footer: "Код без ключа доступа ничего не показывает. Не сообщайте ключ посторонним.",
    errors: { NOT_FOUND: "Неверный код или ключ доступа.", INVALID_ARGUMENT: "Проверьте код и ключ доступа.", FAILED_PRECONDITION: "Направление уже не активно.", RESOURCE_EXHAUSTED: "Слишком много запросов. Повторите позже.", UNAVAILABLE: "Сервис временно недоступен.", other: "Произошла ошибка." },
    retryIn: (minutes) => `Слишком много запросов. Повторите через ${minutes} мин.`,
    cancelButton: "Отменить направление", cancelQuestion: "Отменить направление? Место будет освобождено, вернуть его нельзя.",
    cancelReasonLabel: "Причина", cancelReasonPick: "— выберите —", reasonPatientRequest: "По моему желанию", reasonHealthImproved: "Состояние улучшилось",
    reasonHospitalizedElsewhere: "Госпитализирован в другую больницу", reasonOther: "Другая причина", cancelTextLabel: "Опишите причину",
    cancelConfirm: "Да, отменить", cancelBack: "Нет, оставить", cancelInvalid: "Выберите причину (для «Другая причина» опишите её).",
    status: { REFERRAL_STATUS_REGISTERED: "Зарегистрировано, ждёт подтверждения больницы", REFERRAL_STATUS_SCHEDULED: "Дата подтверждена", REFERRAL_STATUS_ADMITTED: "Госпитализирован", REFERRAL_STATUS_REFUSED: "Отказано в госпитализации", REFERRAL_STATUS_CANCELLED: "Направление отменено", REFERRAL_STATUS_NO_SHOW: "Неявка — направление отменено" },
    action: { REGISTERED: "Зарегистрировано", SCHEDULED: "Дата подтверждена", RESCHEDULED: "Дата изменена", ADMITTED: "Госпитализирован", REFUSED: "Отказ", CANCELLED: "Отменено", NO_SHOW: "Неявка" },
  },
  en: {
    title: "Hospitalization Bureau", skip: "Skip to content",
    checkTitle: "My referral", checkHelp: "Enter the hospitalization code and the access key printed on your coupon.",
    codeLabel: "Hospitalization code", codeHint: "For example: 61.01W9.321.72S", keyLabel: "Access key", checkButton: "Check",
    statusLabel: "Status", hospitalLabel: "Hospital", profileLabel: "Bed profile", plannedLabel: "Planned date",
    positionLabel: "Place in the queue", reasonLabel: "Last change", asOf: "As of", historyTitle: "History",
    live: "Changes show up here as they happen", reconnecting: "Reconnecting…",
    ahead: (n) => `${n} ahead of you`, notInQueue: "not in the queue",
    bedsTitle: "Free beds", regionLabel: "Region", allRegions: "All regions", bedProfileLabel: "Bed profile",
    adults: "Adults", children: "Children", showButton: "Show",
    staleNote: "Marked counts have not been updated for a long time and may be wrong.",
    colHospital: "Hospital", colRegion: "Region", colEarliest: "Earliest date", colSlots: "Places in period", colFree: "Free beds", colQueue: "In queue",
    stale: "stale", neverReported: "never reported", noBeds: "No free places found for this period.",
    bedsFor: (age, name) => `${age}: ${name}`,
    footer: "A code without its access key shows nothing. Do not share your key.",
    errors: { NOT_FOUND: "Wrong code or access key.", INVALID_ARGUMENT: "Check the code and the access key.", FAILED_PRECONDITION: "The referral is no longer active.", RESOURCE_EXHAUSTED: "Too many requests. Try again later.", UNAVAILABLE: "The service is unavailable for a moment.", other: "Something went wrong." },
    retryIn: (minutes) => `Too many requests. Try again in ${minutes} min.`,
    cancelButton: "Cancel the referral", cancelQuestion: "Cancel the referral? Its place will be released and cannot be given back.",
    cancelReasonLabel: "Reason", cancelReasonPick: "— choose —", reasonPatientRequest: "My own decision", reasonHealthImproved: "My health improved",
    reasonHospitalizedElsewhere: "Admitted to another hospital", reasonOther: "Another reason", cancelTextLabel: "Describe the reason",
    cancelConfirm: "Yes, cancel it", cancelBack: "No, keep it", cancelInvalid: "Choose a reason (for “Another reason”, describe it).",
    status: { REFERRAL_STATUS_REGISTERED: "Registered, waiting for the hospital to confirm", REFERRAL_STATUS_SCHEDULED: "Date confirmed", REFERRAL_STATUS_ADMITTED: "Admitted", REFERRAL_STATUS_REFUSED: "Admission refused", REFERRAL_STATUS_CANCELLED: "Referral cancelled", REFERRAL_STATUS_NO_SHOW: "Did not come — referral cancelled" },
    action: { REGISTERED: "Registered", SCHEDULED: "Date confirmed", RESCHEDULED: "Date changed", ADMITTED: "Admitted", REFUSED: "Refused", CANCELLED: "Cancelled", NO_SHOW: "Did not come" },
  },
};
const LOCALES = { kk: "kk-KZ", ru: "ru-RU", en: "en-GB" };

const $ = (id) => document.getElementById(id);
let lang = pickLanguage();
let regions = [];
let profiles = [];
let lastStatus = null;
let lastBeds = null;
let source = null;
let coupon = null; // { code, key } of the referral shown
let cancelRequestId = null; // kept across retries of one confirmation: the server answers a repeat with the first result

function pickLanguage() {
  const saved = localStorage.getItem("lang");
  if (saved && TEXT[saved]) return saved;
  const wanted = (navigator.languages || [navigator.language || "ru"]).map((l) => l.slice(0, 2));
  return wanted.find((l) => TEXT[l]) || "ru";
}

const t = (key) => TEXT[lang][key];

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.label = t(el.dataset.i18nLabel);
  for (const b of document.querySelectorAll("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  fillRegions();
  fillProfiles();
  if (lastStatus) showStatus(lastStatus);
  if (lastBeds) showBeds(lastBeds.response, lastBeds.profile);
}

const name = (item) => (item && (item[{ kk: "nameKk", ru: "nameRu", en: "nameEn" }[lang]] || item.nameRu)) || "";
// Numeric dates: every language reads them, and some browsers lack Kazakh month names.
const date = (d) => (d && d.year ? new Intl.DateTimeFormat(LOCALES[lang], { year: "numeric", month: "2-digit", day: "2-digit", timeZone: "UTC" }).format(Date.UTC(d.year, d.month - 1, d.day)) : "—");
const instant = (s) => (s ? new Intl.DateTimeFormat(LOCALES[lang], { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(s)) : "");

async function fetchJson(url, init = {}) {
  const response = await fetch(url, { ...init, headers: { Accept: "application/json", ...init.headers } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((body.error && body.error.message) || response.statusText);
    error.status = (body.error && body.error.status) || "UNAVAILABLE";
    error.retryAfter = Number(response.headers.get("Retry-After")) || 0; // seconds, with RESOURCE_EXHAUSTED
    throw error;
  }
  return body;
}

const getJson = (url, headers) => fetchJson(url, { headers });

// A wait of a minute or more (a lookup that failed while keys are being guessed) is told in minutes.
const errorText = (e) =>
  e.status === "RESOURCE_EXHAUSTED" && e.retryAfter >= 60 ? t("retryIn")(Math.ceil(e.retryAfter / 60)) : TEXT[lang].errors[e.status] || TEXT[lang].errors.other;

// ---- the patient's referral -------------------------------------------------------------

function showStatus(s) {
  lastStatus = s;
  $("result").hidden = false;
  $("status-value").textContent = TEXT[lang].status[s.status] || s.status;
  $("status-value").dataset.status = s.status;
  $("hospital-value").textContent = s.hospitalName;
  const profile = profiles.find((p) => p.code === s.bedProfileCode);
  $("profile-value").textContent = profile ? name(profile) : s.bedProfileName;
  $("planned-date").textContent = date(s.plannedDate);
  $("queue-position").textContent = s.queuePosition > 0 ? `${s.queuePosition} (${t("ahead")(s.peopleAhead)})` : t("notInQueue");
  $("last-reason").textContent = s.lastChangeReason || (TEXT[lang].action[(s.history.at(-1) || {}).action] ?? "");
  $("as-of").textContent = instant(s.asOf);
  $("as-of").dateTime = s.asOf || "";
  const list = $("history");
  list.replaceChildren(...s.history.map((e) => {
    const li = document.createElement("li");
    const when = document.createElement("time");
    when.dateTime = e.occurredAt;
    when.textContent = instant(e.occurredAt);
    const what = document.createElement("strong");
    what.textContent = TEXT[lang].action[e.action] || e.action;
    li.append(when, what);
    if (e.reason) li.append(document.createTextNode(` — ${e.reason}`));
    li.dataset.action = e.action;
    return li;
  }));
  const active = s.status === "REFERRAL_STATUS_REGISTERED" || s.status === "REFERRAL_STATUS_SCHEDULED";
  $("cancel").hidden = !active;
  if (!active) closeCancel();
}

function setLive(state) {
  const el = $("live-state");
  el.dataset.state = state;
  el.textContent = state === "on" ? t("live") : state === "retry" ? t("reconnecting") : "";
}

async function check(event) {
  event.preventDefault();
  const code = $("code").value.trim();
  const key = $("access-key").value.trim();
  const error = $("check-error");
  error.hidden = true;
  if (source) { source.close(); source = null; }
  setLive("off");
  closeCancel();
  coupon = null;
  try {
    // One plain lookup first: it gives a clear error (EventSource cannot), then the live stream.
    const first = await getJson(`/v1/queue/${encodeURIComponent(code)}`, { "X-Access-Key": key });
    coupon = { code, key };
    showStatus(first.status);
    watch(code, key);
  } catch (e) {
    $("result").hidden = true;
    lastStatus = null;
    error.textContent = errorText(e);
    error.hidden = false;
  }
}

function watch(code, key) {
  source = new EventSource(`/v1/queue/${encodeURIComponent(code)}/events?access_key=${encodeURIComponent(key)}`);
  source.onopen = () => setLive("on");
  source.addEventListener("status", (e) => { setLive("on"); showStatus(JSON.parse(e.data)); });
  source.addEventListener("error", (e) => {
    if (e.data) {
      // The server ended the stream with a status; do not reconnect into the same error.
      source.close();
      setLive("off");
      const body = JSON.parse(e.data);
      const error = $("check-error");
      error.textContent = errorText({ status: body.error && body.error.status });
      error.hidden = false;
    } else {
      setLive("retry"); // the browser reconnects by itself
    }
  });
}

// The patient's own cancellation: a confirmation with a reason, then POST /v1/queue/{code}/cancel.

function openCancel() {
  $("cancel-form").hidden = false;
  $("cancel-open").hidden = true;
  $("cancel-open").setAttribute("aria-expanded", "true");
  $("cancel-error").hidden = true;
  $("cancel-reason").focus();
}

function closeCancel(refocus = false) {
  const open = !$("cancel-form").hidden;
  $("cancel-form").hidden = true;
  $("cancel-form").reset();
  $("cancel-text-field").hidden = true;
  $("cancel-open").hidden = false;
  $("cancel-open").setAttribute("aria-expanded", "false");
  $("cancel-error").hidden = true;
  cancelRequestId = null;
  if (refocus && open && !$("cancel").hidden) $("cancel-open").focus();
}

// A fresh request id; crypto.randomUUID needs a secure context, getRandomValues does not.
function newRequestId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function cancelReferral(event) {
  event.preventDefault();
  const error = $("cancel-error");
  error.hidden = true;
  const reason = $("cancel-reason").value;
  const text = $("cancel-text").value.trim();
  if (!reason || (reason === "CANCELLATION_REASON_OTHER" && !text)) {
    error.textContent = t("cancelInvalid");
    error.hidden = false;
    (reason ? $("cancel-text") : $("cancel-reason")).focus();
    return;
  }
  if (!coupon) return;
  cancelRequestId ??= newRequestId();
  $("cancel-confirm").disabled = true;
  try {
    const body = await fetchJson(`/v1/queue/${encodeURIComponent(coupon.code)}/cancel`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Access-Key": coupon.key },
      body: JSON.stringify({ requestId: cancelRequestId, reason, reasonText: reason === "CANCELLATION_REASON_OTHER" ? text : "" }),
    });
    showStatus(body.status);
    $("status-value").focus(); // the button that had focus is gone with the action
  } catch (e) {
    error.textContent = e.status === "INVALID_ARGUMENT" ? t("cancelInvalid") : errorText(e);
    error.hidden = false;
  } finally {
    $("cancel-confirm").disabled = false;
  }
}

// ---- the public free-beds board ---------------------------------------------------------

function fillRegions() {
  const select = $("region");
  const chosen = select.value;
  const all = select.options[0];
  all.textContent = t("allRegions");
  select.replaceChildren(all, ...regions.map((r) => new Option(name(r), r.code)));
  select.value = chosen;
}

function fillProfiles() {
  const select = $("profile");
  const chosen = select.value;
  for (const [group, age] of [["adult-profiles", "AGE_GROUP_ADULT"], ["child-profiles", "AGE_GROUP_CHILD"]]) {
    $(group).replaceChildren(...profiles.filter((p) => p.ageGroup === age).map((p) => new Option(`${name(p)} (${p.code})`, p.code)));
  }
  if (chosen) select.value = chosen;
}

function showBeds(response, profileCode) {
  lastBeds = { response, profile: profileCode };
  const profile = profiles.find((p) => p.code === profileCode);
  const age = profile && profile.ageGroup === "AGE_GROUP_CHILD" ? t("children") : t("adults");
  $("beds").hidden = false;
  $("beds-heading").textContent = t("bedsFor")(age, profile ? name(profile) : profileCode);
  $("beds-as-of").textContent = instant(response.asOf);
  const body = $("beds-body");
  if (!response.offers.length) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = 6;
    cell.textContent = t("noBeds");
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...response.offers.map((o) => {
    const row = document.createElement("tr");
    const region = regions.find((r) => r.code === o.regionCode);
    const cells = [o.hospitalName, region ? name(region) : o.regionCode, date(o.earliestFreeDate), String(o.freeSlotsInRange)];
    for (const text of cells) row.insertCell().textContent = text;
    row.cells[3].className = "num";
    const free = row.insertCell();
    free.className = "num";
    const census = o.census || {};
    free.textContent = census.freshness === "FRESHNESS_NEVER_REPORTED" ? "—" : `${census.free} / ${census.total}`;
    if (census.freshness === "FRESHNESS_STALE" || census.freshness === "FRESHNESS_NEVER_REPORTED") {
      const mark = document.createElement("span");
      mark.className = "stale";
      mark.textContent = census.freshness === "FRESHNESS_STALE" ? t("stale") : t("neverReported");
      if (census.reportedAt) mark.title = instant(census.reportedAt);
      free.append(" ", mark);
      row.dataset.stale = "true";
    }
    const queue = row.insertCell();
    queue.className = "num";
    queue.textContent = String(o.queueLength);
    return row;
  }));
}

async function showFreeBeds(event) {
  event.preventDefault();
  const error = $("beds-error");
  error.hidden = true;
  const profile = $("profile").value;
  const params = new URLSearchParams({ profile });
  if ($("region").value) params.set("region", $("region").value);
  try {
    showBeds(await getJson(`/v1/free-beds?${params}`), profile);
  } catch (e) {
    error.textContent = errorText(e);
    error.hidden = false;
  }
}

async function start() {
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () => { lang = b.dataset.lang; localStorage.setItem("lang", lang); applyLanguage(); });
  }
  $("check-form").addEventListener("submit", check);
  $("cancel-open").addEventListener("click", openCancel);
  $("cancel-back").addEventListener("click", () => closeCancel(true));
  $("cancel-form").addEventListener("submit", cancelReferral);
  $("cancel-reason").addEventListener("change", () => {
    $("cancel-text-field").hidden = $("cancel-reason").value !== "CANCELLATION_REASON_OTHER";
    $("cancel-error").hidden = true;
  });
  $("cancel-text").addEventListener("input", () => { $("cancel-error").hidden = true; });
  $("beds-form").addEventListener("submit", showFreeBeds);
  applyLanguage();
  try {
    [regions, profiles] = await Promise.all([
      getJson("/v1/regions").then((r) => r.regions),
      getJson("/v1/bed-profiles").then((r) => r.profiles),
    ]);
    applyLanguage();
  } catch (e) {
    $("beds-error").textContent = errorText(e);
    $("beds-error").hidden = false;
  }
}

start();
