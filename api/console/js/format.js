// Dates, durations and the French words for the API's codes.

const PARIS = "Europe/Paris";

function formatter(zone, options) {
  return new Intl.DateTimeFormat("fr-FR", {timeZone: zone || PARIS, ...options});
}

export function time(iso, zone) {
  return formatter(zone, {hour: "2-digit", minute: "2-digit"}).format(new Date(iso));
}

export function date(iso, zone) {
  return formatter(zone, {weekday: "short", day: "numeric", month: "short"}).format(new Date(iso));
}

export function longDate(day) {
  // ``day`` is YYYY-MM-DD (a calendar day, no zone)
  const [y, m, d] = day.split("-").map(Number);
  return new Intl.DateTimeFormat("fr-FR", {
    weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC",
  }).format(new Date(Date.UTC(y, m - 1, d)));
}

export function dateTime(iso, zone) {
  return formatter(zone, {
    day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
  }).format(new Date(iso));
}

export function birthDate(day) {
  const [y, m, d] = String(day).split("-");
  return `${d}/${m}/${y}`;
}

/** Today's date (YYYY-MM-DD) in a time zone. */
export function today(zone) {
  return formatter(zone, {year: "numeric", month: "2-digit", day: "2-digit"})
    .formatToParts(new Date())
    .reduce((out, p) => ({...out, [p.type]: p.value}), {});
}

export function todayIso(zone) {
  const parts = today(zone);
  return `${parts.year}-${parts.month}-${parts.day}`;
}

export function shiftDay(day, days) {
  const [y, m, d] = day.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + days));
  return next.toISOString().slice(0, 10);
}

/** "à l'instant", "il y a 3 min", "il y a 2 h". */
export function since(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 45) return "à l'instant";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `il y a ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `il y a ${hours} h ${String(minutes % 60).padStart(2, "0")}`;
}

export function duration(seconds) {
  const whole = Math.round(seconds);
  const m = Math.floor(whole / 60);
  const s = whole % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

/** A French phone number spaced in pairs (+33 6 39 98 00 01 → 06 39 98 00 01). */
export function phone(value) {
  if (!value) return "—";
  const digits = value.replace(/[^0-9+]/g, "");
  const national = digits.startsWith("+33") ? "0" + digits.slice(3) : digits;
  return /^0\d{9}$/.test(national) ? national.replace(/(\d{2})(?=\d)/g, "$1 ") : value;
}

const INTENTS = {
  book: "Prendre rendez-vous",
  cancel: "Annuler un rendez-vous",
  reschedule: "Déplacer un rendez-vous",
  confirm_appointment: "Confirmer un rendez-vous",
  message: "Laisser un message",
  secretary: "Parler à une secrétaire",
  prescription: "Ordonnance",
  results: "Résultats d'examens",
  emergency: "Urgence",
};

const REASONS = {
  asked_for_human: "a demandé à parler à quelqu'un",
  caller_transfer: "transfert demandé pendant l'appel",
  emergency: "urgence signalée",
  not_understood: "demande non comprise",
  verification_failed: "identité non vérifiée",
  none_free: "aucun créneau libre",
  emergency_voicemail: "urgence entendue dans un message vocal",
};

const CALLBACKS = {reached: "joint", message_left: "message laissé", no_answer: "pas de réponse"};

const ROLES = {admin: "Administration", secretary: "Secrétaire", doctor: "Médecin"};

const STATUSES = {
  waiting: "En attente", claimed: "Pris en charge", resolved: "Terminé",
  booked: "Confirmé", cancelled: "Annulé", moved: "Déplacé", done: "Passé",
  no_show: "Absent",
};

const PARTS = {morning: "Matin", afternoon: "Après-midi"};

function label(table, code, fallback = "—") {
  if (!code) return fallback;
  return table[code] || code.replaceAll("_", " ");
}

export const intentLabel = code => label(INTENTS, code, "Motif inconnu");
export const reasonLabel = code => label(REASONS, code, "");
export const roleLabel = code => label(ROLES, code);
export const statusLabel = code => label(STATUSES, code);
export const partLabel = code => label(PARTS, code);
export const callbackLabel = code => label(CALLBACKS, code);

/** How sure the engine is of who the caller is: checked against the record, or a new
 *  patient's identity as declared on the phone (a record to confirm). */
export function identityState(caller) {
  return caller.provisional
    ? {label: "Nouveau patient : identité déclarée, à confirmer", tone: "warn"}
    : {label: "Identité vérifiée", tone: "ok"};
}
