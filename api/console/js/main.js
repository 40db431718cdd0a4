// The console's shell: who is logged in, the sections of their role, navigation.
// Health data lives only in memory and on screen: never in the URL (the hash names a
// section), never in the browser's storage.

import {api, whenSessionEnds} from "./api.js";
import {h, fill, toast} from "./dom.js";
import {roleLabel} from "./format.js";
import {showLogin, showPasswordChange} from "./login.js";
import {QueueFeed, queueView} from "./queue.js";
import {agendaView} from "./agenda.js";
import {bookingView} from "./booking.js";
import {voicemailView} from "./voicemail.js";
import {newPatientsView} from "./newpatients.js";
import {usersView} from "./users.js";
import {auditView} from "./audit.js";
import {retentionView} from "./retention.js";
import {calendarsView} from "./calendars.js";
import {accountView} from "./account.js";

const SECTIONS = {
  secretary: [
    {id: "file", label: "File d'attente", view: queueView},
    {id: "agenda", label: "Agenda du jour", view: agendaView},
    {id: "rdv", label: "Prendre un RDV", view: bookingView},
    {id: "messagerie", label: "Messagerie", view: voicemailView},
    {id: "a-confirmer", label: "À confirmer", view: newPatientsView},
  ],
  doctor: [
    {id: "messagerie", label: "Messagerie", view: voicemailView},
    {id: "agenda", label: "Mon agenda", view: agendaView},
  ],
  admin: [
    {id: "utilisateurs", label: "Utilisateurs", view: usersView},
    {id: "calendriers", label: "Calendriers", view: calendarsView},
    {id: "audit", label: "Audit", view: auditView},
    {id: "conservation", label: "Conservation", view: retentionView},
  ],
};
const ACCOUNT = {id: "compte", label: "Mon compte", view: accountView};

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");
const tabs = document.getElementById("tabs");
const who = document.getElementById("who");

let session = null;   // {me, practices, feed, sections, handoff, details}
let leaveView = null; // cleanup of the section on screen

function sectionsOf(role) {
  return [...(SECTIONS[role] || []), ACCOUNT];
}

function currentId() {
  const id = window.location.hash.replace(/^#\/?/, "");
  return session.sections.some(s => s.id === id) ? id : session.sections[0].id;
}

function render() {
  if (!session) return;
  const id = currentId();
  const section = session.sections.find(s => s.id === id);
  for (const link of tabs.querySelectorAll("a")) {
    if (link.dataset.section === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (leaveView) leaveView();
  leaveView = null;
  const place = h("div", {class: "view", "data-view": id});
  fill(main, place);
  document.title = `${section.label} — Telesec`;
  const handoff = session.handoff;
  session.handoff = null;
  leaveView = section.view(place, session, handoff) || null;
}

/** Show another section; ``handoff`` (in memory) passes e.g. the patient to book for. */
function go(id, handoff = null) {
  session.handoff = handoff;
  if (window.location.hash === `#/${id}`) render();
  else window.location.hash = `#/${id}`;
}

function drawTopbar() {
  fill(tabs, session.sections.filter(s => s !== ACCOUNT).map((s, index) =>
    h("a", {href: `#/${s.id}`, dataset: {section: s.id},
            title: `${s.label} (Alt+${index + 1})`},
      s.label, s.id === "file" ? h("span", {class: "count", id: "queue-count", hidden: true}) : null)));
  fill(who,
    h("span", {class: "who-name"}, session.me.login,
      h("span", {class: "who-role"}, roleLabel(session.me.role))),
    h("a", {href: "#/compte", class: "link"}, "Mon compte"),
    h("button", {type: "button", class: "ghost", onclick: logout}, "Se déconnecter"));
  topbar.hidden = false;
}

function updateQueueCount() {
  const badge = document.getElementById("queue-count");
  if (!badge || !session?.feed) return;
  const waiting = session.feed.waitingCount();
  badge.hidden = waiting === 0;
  badge.textContent = String(waiting);
  badge.setAttribute("aria-label", `${waiting} en attente`);
}

function stop() {
  if (leaveView) leaveView();
  leaveView = null;
  session?.phone?.stop();
  session?.feed?.stop();
  session = null;
  topbar.hidden = true;
}

/** The softphone panel, when the front takes the console's calls (sip.webphone). */
async function startSoftphone(owner) {
  try {
    const about = await api("/softphone");
    if (!about.enabled) return;
    const {Softphone} = await import("./softphone.js");
    if (session === owner) owner.phone = new Softphone(owner);
  } catch (error) {
    toast(`Téléphone indisponible : ${error.message}`, "error");
  }
}

async function logout() {
  try {
    await api("/auth/logout", {method: "POST"});
  } catch {
    // the session may already be over: the login screen follows anyway
  }
  stop();
  window.location.hash = "";
  showLogin(main, {message: "Vous êtes déconnectée ou déconnecté.", onDone: boot});
}

async function boot(message) {
  stop();
  let me;
  try {
    me = await api("/auth/me");
  } catch (error) {
    if (error.status === 401) {
      showLogin(main, {message, onDone: boot});
      return;
    }
    fill(main, h("p", {class: "error", role: "alert"}, error.message));
    return;
  }
  if (me.must_change_password) {
    showPasswordChange(main, {me, onDone: boot});
    return;
  }
  const practices = await api("/practices");
  session = {
    me, practices, go, handoff: null, sections: sectionsOf(me.role),
    practiceById: new Map(practices.map(p => [p.id, p])),
    detailCache: new Map(),
    async practiceDetail(slug) {
      if (!this.detailCache.has(slug)) this.detailCache.set(slug, api(`/practices/${slug}`));
      return this.detailCache.get(slug);
    },
  };
  drawTopbar();
  if (me.role === "secretary") {
    session.feed = new QueueFeed(session);
    session.feed.subscribe(updateQueueCount);
    session.feed.start();
    startSoftphone(session);
  }
  if (me.recovery_codes_left < 3) {
    toast(`Il vous reste ${me.recovery_codes_left} code(s) de secours : renouvelez-les dans « Mon compte ».`, "warn");
  }
  render();
  main.focus();
}

whenSessionEnds(() => {
  if (!session) return;
  stop();
  showLogin(main, {message: "Votre session est terminée : reconnectez-vous.", onDone: boot});
});

window.addEventListener("hashchange", render);

document.addEventListener("keydown", event => {
  if (!session || !event.altKey || event.ctrlKey || event.metaKey) return;
  const index = Number(event.key) - 1;
  const sections = session.sections.filter(s => s !== ACCOUNT);
  if (index >= 0 && index < sections.length) {
    event.preventDefault();
    go(sections[index].id);
  }
});

document.getElementById("skip").addEventListener("click", () => main.focus());

boot();
