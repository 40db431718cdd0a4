// The staff API seen from the console: cookie session, CSRF double submit, French errors.

const CSRF_COOKIE = "telesec_csrf";

const MESSAGES = {
  login_failed: "Identifiant, mot de passe ou code incorrect (ou compte verrouillé).",
  rate_limited: "Trop de tentatives : patientez un peu avant de réessayer.",
  unauthenticated: "Votre session est terminée : reconnectez-vous.",
  csrf: "Jeton de sécurité manquant : rechargez la page.",
  forbidden: "Votre rôle ne permet pas cette action.",
  password_change_required: "Changez d'abord votre mot de passe provisoire.",
  not_found: "Introuvable (ou hors de vos cabinets).",
  slot_taken: "Ce créneau vient d'être pris : choisissez-en un autre.",
  hold_expired: "Le créneau n'est plus réservé : recommencez.",
  too_late_to_cancel: "Trop tard pour annuler ce rendez-vous.",
  too_short_notice: "Délai de prévenance trop court pour ce motif.",
  not_bookable_by_phone: "Ce motif ne se réserve pas ainsi.",
  new_patients_not_accepted: "Ce motif n'est pas ouvert aux nouveaux patients.",
  in_the_past: "Ce créneau est déjà passé.",
  outside_opening_hours: "En dehors des heures d'ouverture.",
  unknown_appointment: "Rendez-vous introuvable.",
  already_cancelled: "Ce rendez-vous est déjà annulé.",
};

/** A refusal of the API: HTTP status, machine code, a line for people (French if known). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(MESSAGES[code] || message || `Erreur ${status}`);
    this.status = status;
    this.code = code;
    this.detail = message;
  }
}

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** Called when the session is gone (401 on anything but the login itself). */
let onSessionEnded = () => {};
export function whenSessionEnds(handler) { onSessionEnded = handler; }

/**
 * Call the API. ``query`` values that are empty are left out; ``body`` is sent as JSON.
 * Resolves to the parsed JSON; rejects with ApiError.
 */
export async function api(path, {method = "GET", query, body} = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = {Accept: "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = readCookie(CSRF_COOKIE);
  let response;
  try {
    response = await fetch(url, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "Serveur injoignable : vérifiez la connexion.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && path !== "/auth/login") onSessionEnded();
    throw new ApiError(response.status, data?.code || "error", data?.message);
  }
  return data;
}

/** A random idempotency key (booking twice on a double click books once). */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "console-" + Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
}
