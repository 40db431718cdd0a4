// Modal dialogs (the native <dialog>: focus is trapped and Escape closes it).

import {h} from "./dom.js";

/** Open a modal with ``title`` and ``content``; resolves when it is closed. */
export function modal(title, content, {closeLabel = "Fermer"} = {}) {
  const close = h("button", {type: "button", class: "secondary"}, closeLabel);
  const box = h("dialog", {class: "modal", "aria-labelledby": "modal-title"},
    h("h2", {id: "modal-title"}, title), content, h("div", {class: "modal-end"}, close));
  document.body.append(box);
  close.addEventListener("click", () => box.close());
  const closed = new Promise(resolve => box.addEventListener("close", () => {
    box.remove();
    resolve(box.returnValue);
  }));
  box.showModal();
  return {box, closed, close: () => box.close()};
}

/** The enrolment (shown once): one-time password, otpauth URI, recovery codes. */
export function showEnrolment(enrolment) {
  const copy = h("button", {type: "button", class: "ghost small"}, "Copier");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(enrolment.otpauth_uri);
      copy.textContent = "Copié";
    } catch {
      copy.textContent = "Copie impossible : sélectionnez le texte";
    }
  });
  return modal(`Enrôlement de ${enrolment.login}`, h("div", {class: "enrolment"},
    h("p", {class: "notice warn"},
      "Affiché une seule fois : transmettez ces éléments à la personne par un canal sûr."),
    enrolment.one_time_password ? [
      h("h3", {}, "Mot de passe provisoire"),
      h("p", {class: "secret"}, enrolment.one_time_password),
      h("p", {class: "muted small"}, "À changer à la première connexion."),
    ] : null,
    h("h3", {}, "Application d'authentification (TOTP)"),
    h("p", {class: "muted small"}, "À scanner avec l'application (FreeOTP, Aegis…) :"),
    h("img", {class: "qr", src: enrolment.otpauth_qr, width: "200", height: "200",
              alt: "QR code d'enrôlement TOTP"}),
    h("p", {class: "muted small"}, "ou lien otpauth à importer :"),
    h("p", {class: "secret uri"}, enrolment.otpauth_uri, " ", copy),
    h("h3", {}, "Codes de secours"),
    h("ol", {class: "codes"}, enrolment.recovery_codes.map(c => h("li", {}, c)))));
}
