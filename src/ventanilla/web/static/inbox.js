// The inbox of a branch, the agent's workspace: conversations (those waiting for a person first) with filters,
// labels, search and unread counts; one conversation's messages (texts, photos, audio, video, documents, locations,
// contacts, replies, reactions and the team's private notes), its history and the shipments the customer wrote
// about; take over (asking first when a colleague holds it), resolve, give back, answer with a text or a file.
// On a Cloud API branch, once 24 hours passed since the customer's last message, only an approved template goes:
// the answer box gives way to a template picker (and a hint warns in the last two hours).
// Everything follows the branch's live events, so nothing needs a reload; a sound, a browser notification and the
// tab's title tell the agent when a customer starts waiting or a conversation is assigned to them.
// Message content only ever reaches the page through textContent and attributes, never as HTML.
"use strict";

(() => {
  const root = document.getElementById("inbox");
  if (!root) return;
  const pointId = root.dataset.point;
  const me = root.dataset.me;
  const base = `/api/service-points/${pointId}/conversations`;
  const $ = (id) => document.getElementById(id);
  const STATUS = { BOT: "Bot", HUMAN: "Persona", RESOLVED: "Resuelta" };
  // Delivery of our messages: the ticks repeat the word, which is what screen readers get.
  const DELIVERY = {
    PENDING: { ticks: "🕓", text: "Pendiente" },
    SENT: { ticks: "✓", text: "Enviado" },
    DELIVERED: { ticks: "✓✓", text: "Entregado" },
    READ: { ticks: "✓✓", text: "Leído" },
    FAILED: { ticks: "⚠", text: "No enviado" },
  };
  const TYPE_LABEL = {
    text: "Mensaje",
    image: "📷 Foto",
    audio: "🎤 Audio",
    video: "🎬 Video",
    document: "📄 Documento",
    sticker: "Sticker",
    location: "📍 Ubicación",
    contact: "👤 Contacto",
    unsupported: "Mensaje no compatible",
  };
  const SENDER = { CUSTOMER: "Cliente", BOT: "Bot", AGENT: "Sucursal" };
  const PAGE = 50;
  const MAX_PAGE = 200;
  // What an agent may attach (WhatsApp's own limit by default; the server checks MEDIA_MAX_BYTES again).
  const MAX_FILE_BYTES = 16 * 1024 * 1024;
  const MAX_CAPTION_CHARS = 1024;
  const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);
  const DOCUMENT_TYPES = new Set([
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "text/plain",
    "text/csv",
  ]);
  const DOCUMENT_EXTENSIONS = /\.(pdf|docx?|xlsx?|pptx?|odt|ods|odp|txt|csv)$/i;
  const MAX_CHARS = 4096; // WhatsApp's limit for one text message; the server refuses more
  const MAX_LABELS = 20;
  const MAX_LABEL_CHARS = 40;
  const TYPING_EVERY_MS = 3000; // how often typing is told to the others while the agent writes
  const TYPING_SHOWN_MS = 6000; // how long "… está escribiendo" stays after the last sign
  const NEAR_END_PX = 40; // this close to the end of the thread counts as being at the end
  const WINDOW_HINT_MS = 2 * 60 * 60 * 1000; // the closing 24-hour window is announced this long before

  const state = {
    filter: "all",
    label: "",
    q: "",
    items: [],
    waiting: [], // listed first, in their own section
    nextCursor: null,
    openId: null,
    detail: null,
    messages: new Map(),
    nodes: new Map(), // message or event id -> {key, node}: unchanged entries keep their node (a playing audio goes on)
    olderCursor: null,
    stick: true, // the thread is scrolled to its end: new messages and loaded images keep it there
    unseen: 0, // messages that arrived while the agent read further up
    shownIds: null, // the messages on screen before the last render (null: nothing shown yet)
    file: null, // the file attached to the reply
    sending: false,
    members: new Map([[me, root.dataset.meName]]),
    known: null, // {waiting: Set, mine: Set} of the last count, to tell what is new
    takenByMe: new Set(), // conversations I took or answered myself: no "assigned to you" alert for those
    typing: null, // {userId, name, timer} of a colleague writing in the open conversation
    typingSentAt: 0,
    readUpTo: "", // the newest customer message already marked read
    closedWindow: null, // serviceWindowEndsAt of the open conversation when the server said it closed (409)
    templates: null, // the branch's approved templates, once loaded
    templatesLoading: false,
  };
  const pageTitle = document.title;

  function nameOf(userId) {
    return state.members.get(userId) || "otra persona";
  }

  function who(userId) {
    if (!userId) return "nadie";
    return userId === me ? `${nameOf(userId)} (tú)` : nameOf(userId);
  }

  // Coalesce bursts of events into one request.
  function debounced(fn, ms = 150) {
    let timer = null;
    return () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(fn, ms);
    };
  }

  // Characters as the server counts them (code points: an emoji is one).
  function length(text) {
    let count = 0;
    for (const _ of text) count += 1;
    return count;
  }

  function plural(count, one, many) {
    return `${count} ${count === 1 ? one : many}`;
  }

  // Labels as the server keeps them: trimmed, lower-case, inner spaces collapsed.
  function normalLabel(text) {
    return text.trim().replace(/\s+/g, " ").toLowerCase();
  }

  function labelChips(labels) {
    if (!labels || !labels.length) return null;
    return V.el("span", { className: "labels" },
      V.el("span", { className: "visually-hidden", text: "Etiquetas: " }),
      ...labels.map((label) => V.el("span", { className: "label-chip", text: label })));
  }

  // Put `nodes` in `parent` in this order, moving only what changed: whatever stays keeps its place on screen, its
  // focus and its playing media, and the scroll position is never thrown to the top by an emptied list.
  function syncChildren(parent, nodes) {
    let cursor = parent.firstChild;
    for (const node of nodes) {
      if (node === cursor) {
        cursor = cursor.nextSibling;
        continue;
      }
      parent.insertBefore(node, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
  }

  // ---- the list ----

  function listUrl(cursor, limit, { waiting = false } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (["BOT", "HUMAN", "RESOLVED"].includes(state.filter)) query.set("status", state.filter);
    if (state.filter === "mine") query.set("assignedTo", "me");
    if (state.filter === "waiting" || waiting) query.set("waiting", "true");
    if (state.label) query.set("label", state.label);
    if (state.q) query.set("q", state.q);
    if (cursor) query.set("cursor", cursor);
    return `${base}?${query}`;
  }

  // Customers waiting for a person come first, in their own section (a bot or resolved conversation never waits).
  function waitingFirst() {
    return ["all", "HUMAN", "mine"].includes(state.filter);
  }

  async function loadList(append = false) {
    const limit = append ? PAGE : Math.min(MAX_PAGE, Math.max(PAGE, state.items.length));
    try {
      const [page, waiting] = await Promise.all([
        V.api("GET", listUrl(append ? state.nextCursor : null, limit)),
        !append && waitingFirst() ? V.api("GET", listUrl(null, MAX_PAGE, { waiting: true })) : null,
      ]);
      state.items = append ? state.items.concat(page.items) : page.items;
      if (!append) {
        // the longest wait first
        state.waiting = waiting ? waiting.items.sort((a, b) => Date.parse(a.waitingSince) - Date.parse(b.waitingSince)) : [];
      }
      state.nextCursor = page.nextCursor;
      $("list-status").textContent = "";
    } catch (error) {
      V.setStatus($("list-status"), error.message, true);
      return;
    }
    renderList();
  }

  function conversationItem(c) {
    const waiting = Boolean(c.waitingSince);
    const link = V.el("a", {
      href: `?c=${encodeURIComponent(c.id)}`,
      className: "conv-link",
      "aria-current": c.id === state.openId ? "true" : null,
      "data-id": c.id,
    });
    const unread = c.assignedToUserId === me && c.unreadCount > 0 && c.id !== state.openId ? c.unreadCount : 0;
    link.append(V.el("span", { className: "conv-phone", text: c.customerPhone }));
    if (unread) {
      link.append(V.el("span", { className: "unread" },
        V.el("span", { "aria-hidden": "true", text: unread > 99 ? "99+" : String(unread) }),
        V.el("span", { className: "visually-hidden", text: ` (${plural(unread, "mensaje sin leer", "mensajes sin leer")})` })));
    }
    link.append(
      V.el("span", { className: "badge", "data-status": c.status, text: STATUS[c.status] || c.status }),
      V.el("time", { className: "conv-time", datetime: c.lastMessageAt, text: V.formatTime(c.lastMessageAt) }),
      V.el("span", { className: "conv-preview", text: c.lastMessagePreview || "" }),
    );
    if (waiting) {
      const reason = c.handoffReason ? `: ${c.handoffReason}` : ".";
      link.append(V.el("span", {
        className: "conv-wait",
        text: `Espera a una persona desde hace ${V.since(c.waitingSince)}${reason}`,
      }));
    }
    if (c.status === "HUMAN" && c.assignedToUserId) {
      link.append(V.el("span", { className: "conv-assignee", text: `Atiende: ${who(c.assignedToUserId)}` }));
    }
    const chips = labelChips(c.labels);
    if (chips) link.append(chips);
    return V.el("li", { className: waiting ? "conv waiting" : "conv" }, link);
  }

  function renderList() {
    const first = new Set(state.waiting.map((c) => c.id));
    const rest = state.items.filter((c) => !first.has(c.id));
    $("waiting-section").hidden = !state.waiting.length;
    $("waiting-list").replaceChildren(...state.waiting.map(conversationItem));
    const list = $("conversations");
    list.replaceChildren(...rest.map(conversationItem));
    if (!rest.length) {
      const filtered = state.filter !== "all" || state.q || state.label;
      let text = filtered ? "Ninguna conversación coincide." : "Todavía no hay conversaciones.";
      if (state.waiting.length) text = "Ninguna otra conversación.";
      list.append(V.el("li", { className: "muted empty", text }));
    }
    $("more").hidden = !state.nextCursor;
  }

  // The labels in use at the branch, for the filter and the suggestions when adding one.
  async function loadLabels() {
    let labels;
    try {
      labels = await V.api("GET", `/api/service-points/${pointId}/labels`);
    } catch {
      return; // the filter keeps the labels it had
    }
    const select = $("label-filter");
    const chosen = state.label;
    const options = labels.map((item) => V.el("option", {
      value: item.label,
      text: `${item.label} (${item.count})`,
    }));
    if (chosen && !labels.some((item) => item.label === chosen)) {
      options.push(V.el("option", { value: chosen, text: `${chosen} (0)` }));
    }
    select.replaceChildren(V.el("option", { value: "", text: "Todas las etiquetas" }), ...options);
    select.value = chosen;
    $("label-options").replaceChildren(...labels.map((item) => V.el("option", { value: item.label })));
  }

  // ---- counts, title and alerts ----

  // Customers waiting for a person, and what arrived unread in my conversations: in the tab's title, and an alert
  // (sound, browser notification) for each conversation that starts waiting or is assigned to me.
  async function loadCounts() {
    let waiting;
    let mine;
    try {
      [waiting, mine] = await Promise.all([
        V.api("GET", `${base}?waiting=true&limit=${MAX_PAGE}`),
        V.api("GET", `${base}?assignedTo=me&status=HUMAN&limit=${MAX_PAGE}`),
      ]);
    } catch {
      return; // the list shows the error; the title keeps its last count
    }
    const waitingIds = new Set(waiting.items.map((c) => c.id));
    const mineIds = new Set(mine.items.map((c) => c.id));
    const unread = mine.items
      .filter((c) => !waitingIds.has(c.id) && c.id !== state.openId)
      .reduce((sum, c) => sum + (c.unreadCount || 0), 0);
    const count = waitingIds.size + unread;
    document.title = count ? `(${count}) ${pageTitle}` : pageTitle;
    if (state.known) {
      const assigned = mine.items.filter((c) => !state.known.mine.has(c.id) && !state.takenByMe.has(c.id));
      const started = waiting.items.filter((c) => !state.known.waiting.has(c.id) && !mineIds.has(c.id));
      for (const c of assigned) signal(c, "Te asignaron una conversación");
      for (const c of started) signal(c, "Un cliente espera a una persona");
    }
    state.known = { waiting: waitingIds, mine: mineIds };
    for (const id of [...state.takenByMe]) if (!mineIds.has(id)) state.takenByMe.delete(id);
  }

  const alerts = {
    on: localStorage.getItem("ventanilla-avisos") !== "no",
    audio: null,
  };

  function notificationsAllowed() {
    return "Notification" in window && Notification.permission === "granted";
  }

  function renderAlerts() {
    const button = $("alerts");
    const canAsk = "Notification" in window && Notification.permission === "default";
    button.textContent = alerts.on && !canAsk ? "Silenciar avisos" : "Activar avisos";
    let text;
    if (!alerts.on) text = "Avisos apagados.";
    else if (notificationsAllowed()) text = "Avisos con sonido y notificación del navegador.";
    else if (canAsk) text = "Avisos con sonido; actívalos para recibir también notificaciones del navegador.";
    else text = "Avisos con sonido (el navegador no permite notificaciones).";
    $("alerts-state").textContent = text;
  }

  // The browser lets a page play sound only after a gesture of the person: the first click or key unlocks it.
  function unlockAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!alerts.audio) alerts.audio = new Context();
    if (alerts.audio.state === "suspended") alerts.audio.resume().catch(() => {});
    return alerts.audio;
  }

  // Two short rising tones, made on the spot: nothing to download.
  function chime() {
    const audio = alerts.audio;
    if (!audio || audio.state !== "running") return;
    const start = audio.currentTime;
    [660, 880].forEach((frequency, index) => {
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      const at = start + index * 0.16;
      tone.type = "sine";
      tone.frequency.value = frequency;
      volume.gain.setValueAtTime(0.0001, at);
      volume.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
      volume.gain.exponentialRampToValueAtTime(0.0001, at + 0.15);
      tone.connect(volume).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.16);
    });
  }

  function signal(c, title) {
    V.announce(`${title}: ${c.customerPhone}.`);
    if (!alerts.on) return;
    chime();
    if (!notificationsAllowed() || (document.visibilityState === "visible" && document.hasFocus())) return;
    const notice = new Notification(title, {
      body: c.lastMessagePreview ? `${c.customerPhone}: ${c.lastMessagePreview}` : c.customerPhone,
      tag: `ventanilla-${c.id}`,
    });
    notice.addEventListener("click", () => {
      window.focus();
      openConversation(c.id);
      notice.close();
    });
  }

  async function toggleAlerts() {
    unlockAudio();
    const canAsk = "Notification" in window && Notification.permission === "default";
    if (alerts.on && !canAsk) {
      alerts.on = false;
    } else {
      alerts.on = true;
      if (canAsk) await Notification.requestPermission();
      chime();
    }
    localStorage.setItem("ventanilla-avisos", alerts.on ? "si" : "no");
    renderAlerts();
    V.announce($("alerts-state").textContent);
  }

  // ---- one conversation ----

  function mergeMessages(items) {
    for (const message of items) state.messages.set(message.id, message);
  }

  async function loadThread() {
    const id = state.openId;
    if (!id) return;
    try {
      const [detail, page] = await Promise.all([
        V.api("GET", `${base}/${id}`),
        V.api("GET", `${base}/${id}/messages?limit=${Math.min(MAX_PAGE, Math.max(PAGE, state.messages.size))}`),
      ]);
      if (state.openId !== id) return;
      state.detail = detail;
      mergeMessages(page.items);
      if (state.olderCursor === undefined) state.olderCursor = page.nextCursor;
    } catch (error) {
      V.setStatus($("thread-status"), error.message, true);
      return;
    }
    renderThread();
    markRead();
  }

  // The assignee who has the conversation in front of them has read it: its unread count goes back to zero.
  async function markRead() {
    const d = state.detail;
    if (!d || d.assignedToUserId !== me || document.visibilityState !== "visible") return;
    const newest = [...state.messages.values()]
      .filter((m) => m.direction === "IN")
      .reduce((latest, m) => (m.timestamp > latest ? m.timestamp : latest), "");
    if (!newest || newest <= state.readUpTo) return;
    state.readUpTo = newest;
    try {
      await V.api("POST", `${base}/${d.id}/read`);
    } catch {
      state.readUpTo = ""; // tried again with the next message
      return;
    }
    refreshList();
    refreshCounts();
  }

  const DATE_ONLY = new Intl.DateTimeFormat("es", { dateStyle: "medium", timeZone: "UTC" });

  // The shipments whose tracking numbers the customer wrote, looked up across the company like the bot does;
  // another branch's are shown read-only.
  async function loadShipments() {
    const id = state.openId;
    if (!id) return;
    let items;
    try {
      items = await V.api("GET", `${base}/${id}/shipments`);
    } catch {
      items = [];
    }
    if (state.openId !== id) return;
    $("shipments").hidden = !items.length;
    $("shipment-list").replaceChildren(...items.map(shipmentCard));
  }

  function shipmentCard(s) {
    const card = V.el("li", { className: s.ownPoint ? "shipment" : "shipment foreign" },
      V.el("p", { className: "shipment-head" },
        V.el("span", { className: "shipment-number", text: s.trackingNumber }),
        " ",
        V.el("span", { className: "badge", "data-status": s.status, text: s.statusLabel })));
    const route = [s.origin, s.destination].filter(Boolean).join(" → ");
    const facts = V.el("dl", { className: "shipment-facts" });
    const fact = (term, value) => {
      if (value) facts.append(V.el("div", {}, V.el("dt", { text: term }), V.el("dd", { text: value })));
    };
    fact(s.origin && s.destination ? "Ruta" : s.destination ? "Destino" : "Origen", route);
    fact("Entrega estimada", s.eta ? DATE_ONLY.format(new Date(`${s.eta}T00:00:00Z`)) : "");
    fact("Última novedad", s.lastUpdate ? V.formatTime(s.lastUpdate) : "");
    card.append(facts);
    if (s.ownPoint) {
      card.append(V.el("a", {
        href: `/puntos/${pointId}/envios?q=${encodeURIComponent(s.trackingNumber)}`,
        text: "Ver en Envíos",
        "aria-label": `Ver el envío ${s.trackingNumber} en Envíos`,
      }));
    } else {
      card.append(V.el("p", {
        className: "shipment-foreign",
        text: `De otra sucursal (${s.servicePointName}): solo lectura.`,
      }));
    }
    return card;
  }
  function humanSize(bytes) {
    if (bytes === null || bytes === undefined) return "";
    const number = new Intl.NumberFormat("es", { maximumFractionDigits: 1 });
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${number.format(bytes / 1024)} KB`;
    return `${number.format(bytes / (1024 * 1024))} MB`;
  }

  function shorten(text, length = 120) {
    const flat = (text || "").replace(/\s+/g, " ").trim();
    return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
  }

  function authorOf(m) {
    if (m.senderType === "CUSTOMER") return "Cliente";
    if (m.senderType === "BOT") return "Bot";
    if (m.senderUserId) return who(m.senderUserId);
    return m.sentFromPhone ? "Personal de la sucursal" : "Sucursal";
  }

  // "del cliente" / "de la sucursal": for the names of images and players.
  function ofWhom(m) {
    return m.direction === "IN" ? "del cliente" : "de la sucursal";
  }

  function quoteBlock(m) {
    const q = m.quote;
    if (!q) {
      return V.el("p", { className: "quote missing muted", text: "Responde a un mensaje que no está en esta conversación." });
    }
    const sender = SENDER[q.senderType] || q.senderType;
    const typeLabel = TYPE_LABEL[q.type] || q.type;
    const text = shorten(q.content, 100);
    let label;
    if (q.type === "text") label = text || typeLabel;
    else label = text ? `${typeLabel}: ${text}` : typeLabel;
    const button = V.el("button", {
      type: "button",
      className: "quote",
      "aria-label": `Responde a ${sender}: ${label}. Ir al mensaje citado`,
    },
    V.el("span", { className: "quote-author", text: sender }),
    V.el("span", { className: "quote-text", text: label }));
    button.addEventListener("click", () => goToMessage(q.id));
    return button;
  }

  function goToMessage(id) {
    const target = document.getElementById(`msg-${id}`);
    if (!target) {
      V.setStatus($("thread-status"), "El mensaje citado es anterior a los que se muestran: usa «Ver mensajes anteriores».");
      return;
    }
    target.scrollIntoView({ block: "center", behavior: "smooth" });
    target.focus({ preventScroll: true });
    target.classList.add("highlight");
    window.setTimeout(() => target.classList.remove("highlight"), 2000);
  }

  function mediaState(m) {
    const media = m.media;
    if (media.status === "PENDING") {
      return V.el("p", { className: "media-state muted", text: `${TYPE_LABEL[m.type] || "Archivo"}: descargando…` });
    }
    if (media.status === "EXPIRED") {
      return V.el("p", { className: "media-state muted", text: `${TYPE_LABEL[m.type] || "Archivo"}: archivo vencido` });
    }
    if (media.status === "FAILED") {
      const retry = V.el("button", {
        type: "button", className: "link", text: "Reintentar", "aria-label": "Reintentar la descarga",
      });
      retry.addEventListener("click", () => retryMedia(m, retry));
      return V.el("p", { className: "media-state failed" },
        V.el("span", { text: `${TYPE_LABEL[m.type] || "Archivo"}: no se pudo descargar` }), " ", retry);
    }
    return null;
  }

  function keepAtEnd() {
    if (state.stick) $("messages").scrollTop = $("messages").scrollHeight;
  }

  function imageView(m, className) {
    const media = m.media;
    const name = m.type === "sticker" ? `Sticker ${ofWhom(m)}` : `Foto ${ofWhom(m)}`;
    const img = V.el("img", { src: media.url, alt: name, loading: "lazy", className, decoding: "async" });
    img.addEventListener("load", keepAtEnd);
    if (m.type === "sticker") return img;
    const link = V.el("a", {
      href: media.url,
      target: "_blank",
      rel: "noopener",
      className: "media-link",
      "aria-label": `${name}: ver en tamaño completo`,
    }, img);
    link.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      const viewer = $("viewer");
      if (!viewer || typeof viewer.showModal !== "function") return; // the link opens a new tab instead
      event.preventDefault();
      $("viewer-img").src = media.url;
      $("viewer-img").alt = m.caption ? `${name}: ${m.caption}` : name;
      $("viewer-open").href = media.url;
      viewer.showModal();
    });
    return link;
  }

  function mediaView(m) {
    const media = m.media;
    if (!media) return V.el("p", { className: "muted", text: TYPE_LABEL[m.type] || m.type });
    const waiting = mediaState(m);
    if (waiting) return waiting;
    if (m.type === "image") return imageView(m, "thumb");
    if (m.type === "sticker") return imageView(m, "sticker");
    if (m.type === "audio") {
      const label = media.voice ? `Nota de voz ${ofWhom(m)}` : `Audio ${ofWhom(m)}`;
      const box = V.el("div", { className: "media-audio" },
        V.el("audio", { controls: true, preload: "none", src: media.url, "aria-label": label }));
      if (media.voice) box.prepend(V.el("p", { className: "media-kind", text: "🎤 Nota de voz" }));
      if (media.transcript) {
        box.append(V.el("p", { className: "transcript" },
          V.el("span", { className: "transcript-label", text: "Transcripción: " }),
          V.el("span", { text: media.transcript })));
      }
      return box;
    }
    if (m.type === "video") {
      const video = V.el("video", {
        controls: true, preload: "metadata", src: media.url, className: "media-video", "aria-label": `Video ${ofWhom(m)}`,
      });
      video.addEventListener("loadedmetadata", keepAtEnd);
      return video;
    }
    // documents, and any file of a type this page does not show
    const name = media.fileName || "documento";
    const size = humanSize(media.size);
    return V.el("a", {
      href: media.url,
      download: name,
      className: "media-document",
      "aria-label": `Descargar ${name}${size ? ` (${size})` : ""}`,
    },
    V.el("span", { className: "doc-icon", "aria-hidden": "true", text: "📄" }),
    V.el("span", { className: "doc-name", text: name }),
    size ? V.el("span", { className: "doc-size", text: size }) : null);
  }

  function locationView(m) {
    const place = m.location;
    if (!place) return V.el("p", { className: "muted", text: TYPE_LABEL.location });
    const lat = Number(place.latitude);
    const lon = Number(place.longitude);
    const query = new URLSearchParams({ mlat: String(lat), mlon: String(lon) });
    const url = `https://www.openstreetmap.org/?${query}#map=17/${lat}/${lon}`;
    const title = place.name || "Ubicación";
    const box = V.el("div", { className: "location" },
      V.el("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "location-link" },
        V.el("span", { "aria-hidden": "true", text: "📍 " }),
        V.el("span", { text: `${title} (ver en el mapa)` })));
    if (place.address) box.append(V.el("p", { className: "location-address", text: place.address }));
    return box;
  }

  function contactView(m) {
    const card = m.contact;
    if (!card) return V.el("p", { className: "muted", text: TYPE_LABEL.contact });
    const phones = V.el("ul", { className: "contact-phones" });
    for (const phone of card.phones || []) {
      phones.append(V.el("li", {}, V.el("a", { href: `tel:${phone.replace(/[^+\d]/g, "")}`, text: phone })));
    }
    return V.el("div", { className: "contact-card" },
      V.el("p", { className: "contact-name" },
        V.el("span", { "aria-hidden": "true", text: "👤 " }),
        V.el("span", { text: card.name || "Contacto" })),
      phones);
  }

  function bodyOf(m) {
    const parts = [];
    const type = m.type || "text";
    if (type === "text") {
      parts.push(V.el("p", { className: "msg-text", text: m.content }));
      return parts;
    }
    if (type === "location") parts.push(locationView(m));
    else if (type === "contact") parts.push(contactView(m));
    else if (type === "unsupported") parts.push(V.el("p", { className: "msg-unsupported muted", text: "Mensaje no compatible" }));
    else parts.push(mediaView(m));
    const caption = m.caption || (type !== "location" && type !== "contact" && type !== "unsupported" ? m.content : "");
    if (caption) parts.push(V.el("p", { className: "msg-text caption", text: caption }));
    return parts;
  }

  function deliveryView(m) {
    const known = DELIVERY[m.deliveryStatus];
    const status = V.el("span", { className: `delivery ${m.deliveryStatus.toLowerCase()}` });
    if (known) {
      status.append(V.el("span", { className: "ticks", "aria-hidden": "true", text: known.ticks }), ` ${known.text}`);
    } else {
      status.textContent = m.deliveryStatus;
    }
    return status;
  }

  function messageItem(m) {
    const note = m.kind === "note";
    const classes = ["msg", note ? "note" : m.direction === "IN" ? "in" : "out", m.senderType.toLowerCase()];
    if (m.reaction) classes.push("reacted");
    const item = V.el("li", { className: classes.join(" "), id: `msg-${m.id}`, tabindex: "-1" });
    const author = V.el("p", { className: "msg-author", text: note ? `Nota interna · ${authorOf(m)}` : authorOf(m) });
    if (m.sentFromPhone) author.append(" ", V.el("span", { className: "tag phone", text: "desde el teléfono" }));
    item.append(author);
    if (m.replyTo || m.quote) item.append(quoteBlock(m));
    item.append(...bodyOf(m));
    const meta = V.el("p", { className: "msg-meta" }, V.el("time", { datetime: m.timestamp, text: V.formatTime(m.timestamp) }));
    if (note) meta.append(" · solo para el equipo");
    if (!note && m.direction === "OUT" && m.deliveryStatus) {
      meta.append(" · ", deliveryView(m));
      if (m.deliveryStatus === "FAILED") {
        const reason = m.failureReason || m.deliveryError;
        if (reason) meta.append(V.el("span", { className: "delivery-error", text: ` (${reason})` }));
        const retry = V.el("button", { type: "button", className: "link", text: "Reintentar" });
        retry.addEventListener("click", () => retryMessage(m.id, retry));
        meta.append(" ", retry);
      }
    }
    item.append(meta);
    if (m.reaction) {
      item.append(V.el("span", {
        className: "reaction",
        role: "img",
        "aria-label": `Reacción del cliente: ${m.reaction}`,
        text: m.reaction,
      }));
    }
    return item;
  }

  // The node of a message or history entry, reused while nothing shown in it changed.
  function cachedNode(id, key, build) {
    const known = state.nodes.get(id);
    if (known && known.key === key) return known.node;
    const node = build();
    state.nodes.set(id, { key, node });
    return node;
  }

  function messageNode(m) {
    return cachedNode(m.id, JSON.stringify(m) + V.formatTime(m.timestamp), () => messageItem(m));
  }

  // The history in plain words. No actor means the bot for a handoff, and Ventanilla itself for what it does on its
  // own (assigning to whoever is on duty, resolving an idle conversation).
  function eventText(e) {
    const actor = e.actorUserId ? who(e.actorUserId) : null;
    const reason = e.reason ? `: ${e.reason}` : ".";
    const assignee = e.assignedToUserId;
    switch (e.kind) {
      case "HANDOFF_REQUESTED":
        return `El bot pasó la conversación a una persona${reason}`;
      case "TAKEN_FROM_PHONE":
        return "Alguien respondió desde el teléfono de la sucursal: el bot dejó de responder.";
      case "RESOLVED":
        return actor ? `${actor} marcó la conversación como resuelta${reason}` : `Ventanilla marcó la conversación como resuelta${reason}`;
      case "REOPENED":
        return "El cliente volvió a escribir: la conversación se reabrió y la atiende el bot.";
      case "LABELS_CHANGED": {
        const labels = e.reason ? `: ${e.reason}` : ": ninguna.";
        return `${actor || "Ventanilla"} cambió las etiquetas${labels}`;
      }
      case "STATUS_CHANGED":
        if (e.toStatus === "BOT") return `${actor || "Ventanilla"} devolvió la conversación al bot${reason}`;
        if (e.toStatus === "RESOLVED") return `${actor || "Ventanilla"} marcó la conversación como resuelta${reason}`;
        if (actor && (!assignee || assignee === e.actorUserId)) return `${actor} tomó la conversación${reason}`;
        if (actor) return `${actor} pasó la conversación a ${who(assignee)}${reason}`;
        return assignee ? `Ventanilla pasó la conversación a ${who(assignee)}${reason}` : `La conversación pasó a una persona${reason}`;
      case "ASSIGNED":
        if (!assignee) return `${actor || "Ventanilla"} quitó la asignación${reason}`;
        if (actor && assignee === e.actorUserId) return `${actor} tomó la conversación${reason}`;
        return `${actor || "Ventanilla"} asignó la conversación a ${who(assignee)}${reason}`;
      default:
        return `${actor || "Ventanilla"}: ${e.kind}`;
    }
  }

  function eventNode(e) {
    return cachedNode(e.id, eventText(e) + V.formatTime(e.createdAt), () => V.el("li", { className: "event" },
      V.el("p", { text: eventText(e) }),
      V.el("time", { datetime: e.createdAt, text: V.formatTime(e.createdAt) })));
  }

  function stateText(d) {
    let text;
    if (d.status === "BOT") text = "Atiende el bot.";
    else if (d.status === "RESOLVED") {
      text = d.resolvedAt ? `Resuelta ${V.formatTime(d.resolvedAt)}.` : "Resuelta.";
      text += " Si el cliente vuelve a escribir, la atiende el bot.";
    } else if (d.assignedToUserId) text = `Atiende una persona: ${who(d.assignedToUserId)}.`;
    else text = "Espera a una persona (sin asignar).";
    if (d.waitingSince) text += ` Sin respuesta desde hace ${V.since(d.waitingSince)}.`;
    return text;
  }

  function renderLabels(d) {
    const list = $("thread-labels");
    const labels = d.labels || [];
    list.replaceChildren(...labels.map((label) => {
      const remove = V.el("button", {
        type: "button",
        className: "label-remove",
        "aria-label": `Quitar la etiqueta ${label}`,
        text: "×",
      });
      remove.addEventListener("click", () => saveLabels(labels.filter((l) => l !== label), `Etiqueta «${label}» quitada.`));
      return V.el("li", { className: "label-chip" }, V.el("span", { text: label }), remove);
    }));
    list.hidden = !labels.length;
  }

  function renderThread() {
    const d = state.detail;
    if (!d) return;
    $("thread-title").textContent = d.customerPhone;
    const badge = $("thread-badge");
    badge.dataset.status = d.status;
    badge.textContent = STATUS[d.status] || d.status;
    const text = stateText(d);
    if ($("thread-state").textContent !== text) $("thread-state").textContent = text;
    const handoff = $("thread-handoff");
    handoff.hidden = !(d.status === "HUMAN" && d.handoffReason);
    handoff.textContent = d.handoffReason ? `Motivo del traspaso: ${d.handoffReason}` : "";
    renderLabels(d);
    $("take").hidden = d.status === "HUMAN" && d.assignedToUserId === me;
    $("resolve").hidden = d.status === "RESOLVED";
    $("give-back").hidden = d.status !== "HUMAN";
    $("older").hidden = !state.olderCursor;
    renderWindow(d);

    const list = $("messages");
    const messages = [...state.messages.values()];
    const entries = [
      ...messages.map((m) => ({ at: m.timestamp, node: () => messageNode(m) })),
      ...d.events.map((e) => ({ at: e.createdAt, node: () => eventNode(e) })),
    ].sort((a, b) => new Date(a.at) - new Date(b.at));
    const before = { top: list.scrollTop, fromEnd: list.scrollHeight - list.scrollTop };
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    syncChildren(list, entries.map((entry) => entry.node()));
    if (focused && list.contains(focused) && document.activeElement !== focused) focused.focus({ preventScroll: true });

    // What arrived since the last render, below what the agent is reading (not their own messages or notes).
    const shown = state.shownIds;
    const newest = shown ? Math.max(0, ...messages.filter((m) => shown.has(m.id)).map((m) => Date.parse(m.timestamp))) : 0;
    const arrived = shown
      ? messages.filter((m) => !shown.has(m.id) && Date.parse(m.timestamp) >= newest && m.senderUserId !== me).length
      : 0;
    state.shownIds = new Set(messages.map((m) => m.id));

    if (state.stick || list.dataset.fresh === "true") {
      toEnd();
      list.dataset.fresh = "false";
    } else if (list.dataset.older === "true") {
      list.scrollTop = list.scrollHeight - before.fromEnd; // older messages above: what was read stays in place
    } else {
      list.scrollTop = before.top;
      state.unseen += arrived;
    }
    list.dataset.older = "false";
    renderUnseen();
  }

  function toEnd() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
    state.stick = true;
    state.unseen = 0;
  }

  function renderUnseen() {
    const button = $("jump-new");
    const show = state.unseen > 0 && !state.stick;
    if (show) {
      const text = state.unseen === 1 ? "1 mensaje nuevo" : `${state.unseen} mensajes nuevos`;
      if (button.hidden || button.textContent !== text) {
        button.textContent = text;
        if (button.hidden) V.announce(`${text} abajo.`);
      }
    }
    button.hidden = !show;
  }

  function renderTyping() {
    const node = $("typing");
    const typing = state.typing;
    const text = typing ? `${typing.name} está escribiendo…` : "";
    if (node.textContent !== text) node.textContent = text;
  }

  function stopTyping() {
    if (state.typing) window.clearTimeout(state.typing.timer);
    state.typing = null;
    renderTyping();
  }

  function colleagueTyping(e) {
    if (e.conversationId !== state.openId || e.userId === me) return;
    if (state.typing) window.clearTimeout(state.typing.timer);
    state.typing = { userId: e.userId, name: e.userName || nameOf(e.userId), timer: window.setTimeout(stopTyping, TYPING_SHOWN_MS) };
    renderTyping();
  }

  async function tellTyping() {
    const now = Date.now();
    if (!state.openId || now - state.typingSentAt < TYPING_EVERY_MS) return;
    state.typingSentAt = now;
    try {
      await V.api("POST", `${base}/${state.openId}/typing`);
    } catch {
      state.typingSentAt = 0; // a nicety: tried again with the next key, never in the way of the reply
    }
  }

  async function openConversation(id, { push = true, focus = true } = {}) {
    if (state.openId !== id) {
      state.openId = id;
      state.detail = null;
      state.messages = new Map();
      state.nodes = new Map();
      state.olderCursor = undefined;
      state.shownIds = null;
      state.readUpTo = "";
      toEnd();
      stopTyping();
      clearFile();
      $("messages").replaceChildren();
      $("messages").dataset.fresh = "true";
      for (const action of ["take", "resolve", "give-back"]) $(action).hidden = true; // until its state is known
      $("thread-state").textContent = "Cargando…";
      $("thread-badge").textContent = "";
      $("thread-title").textContent = "";
      $("shipments").hidden = true;
      $("shipment-list").replaceChildren();
      for (const id of ["reply-status", "note-status", "thread-status", "template-status"]) $(id).textContent = "";
      state.closedWindow = null;
      renderWindow(null);
    }
    if (push) history.pushState({ c: id }, "", `?c=${encodeURIComponent(id)}`);
    $("thread").hidden = false;
    $("thread-empty").hidden = true;
    root.classList.add("has-open");
    renderList();
    loadShipments();
    await loadThread();
    if (focus) {
      $("thread-title").setAttribute("tabindex", "-1");
      $("thread-title").focus({ preventScroll: true });
    }
    $("messages").scrollIntoView({ block: "nearest" }); // the newest message in view, on a phone too
  }

  function closeConversation({ push = true } = {}) {
    const id = state.openId;
    state.openId = null;
    state.detail = null;
    stopTyping();
    $("thread").hidden = true;
    $("thread-empty").hidden = false;
    root.classList.remove("has-open");
    if (push) history.pushState({}, "", location.pathname);
    renderList();
    refreshCounts();
    const link = id && document.querySelector(`.conv-link[data-id="${CSS.escape(id)}"]`);
    if (link) link.focus();
  }

  // Returns whether the change was made.
  async function change(body, doneText) {
    const status = $("thread-status");
    V.setStatus(status, "Un momento…");
    let done = false;
    try {
      await V.api("PATCH", `${base}/${state.openId}`, body);
      V.setStatus(status, doneText);
      done = true;
    } catch (error) {
      V.setStatus(status, error.message, true);
    }
    await Promise.all([loadThread(), loadList()]);
    refreshCounts();
    return done;
  }

  // Taking a conversation a colleague holds asks first, naming them. The request says who we believe holds it, so
  // if someone else took it meanwhile the server refuses (409) and the page says who, instead of silently taking it.
  async function take() {
    const d = state.detail;
    if (!d) return;
    const holder = d.assignedToUserId;
    if (d.status === "HUMAN" && holder && holder !== me) {
      const name = nameOf(holder);
      if (!window.confirm(`${name} atiende esta conversación. ¿Quieres tomarla tú? ${name} dejará de tenerla asignada.`)) return;
    }
    state.takenByMe.add(d.id);
    const body = { status: "HUMAN", assignedToUserId: me, expectedAssignedToUserId: holder || null };
    const status = $("thread-status");
    V.setStatus(status, "Un momento…");
    try {
      await V.api("PATCH", `${base}/${d.id}`, body);
      V.setStatus(status, "Tomaste la conversación: el bot ya no responde en ella.");
    } catch (error) {
      if (error.status !== 409) {
        V.setStatus(status, error.message, true);
        return;
      }
      await loadThread();
      const now = state.detail && state.detail.assignedToUserId;
      const text = now && now !== me
        ? `No la tomaste: mientras tanto la tomó ${nameOf(now)}. Si aún quieres tomarla, vuelve a pulsar «Tomar conversación».`
        : "No la tomaste: la conversación cambió mientras tanto. Revisa su estado y vuelve a intentarlo.";
      V.setStatus(status, text, true);
    }
    await Promise.all([loadThread(), loadList()]);
    refreshCounts();
  }

  async function saveLabels(labels, doneText) {
    const status = $("thread-status");
    try {
      const summary = await V.api("PUT", `${base}/${state.openId}/labels`, labels);
      if (state.detail) state.detail.labels = summary.labels;
      V.setStatus(status, doneText);
      renderThread();
    } catch (error) {
      V.setStatus(status, error.message, true);
      return false;
    }
    loadLabels();
    refreshList();
    refreshThread();
    return true;
  }

  async function addLabel(event) {
    event.preventDefault();
    const input = $("label-new");
    const label = normalLabel(input.value);
    const current = (state.detail && state.detail.labels) || [];
    let problem = "";
    if (!label) problem = "Escribe la etiqueta que quieres agregar.";
    else if (length(label) > MAX_LABEL_CHARS) problem = `Una etiqueta tiene hasta ${MAX_LABEL_CHARS} caracteres (esta tiene ${length(label)}).`;
    else if (current.includes(label)) problem = `La conversación ya tiene la etiqueta «${label}».`;
    else if (current.length >= MAX_LABELS) problem = `Una conversación tiene hasta ${MAX_LABELS} etiquetas: quita alguna antes.`;
    if (problem) {
      input.setAttribute("aria-invalid", "true");
      V.setStatus($("thread-status"), problem, true);
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    if (await saveLabels([...current, label], `Etiqueta «${label}» agregada.`)) input.value = "";
  }
  async function retryMessage(messageId, button) {
    button.disabled = true;
    try {
      mergeMessages([await V.api("POST", `${base}/${state.openId}/messages/${messageId}/retry`)]);
      renderThread();
    } catch (error) {
      if (!windowClosedBy(error)) V.setStatus($("thread-status"), error.message, true);
      button.disabled = false;
    }
  }

  async function retryMedia(m, button) {
    button.disabled = true;
    try {
      await V.api("POST", `/api/service-points/${pointId}/media/${m.media.id}/retry`);
      const current = state.messages.get(m.id);
      if (current && current.media) {
        state.messages.set(m.id, { ...current, media: { ...current.media, status: "PENDING" } });
      }
      V.setStatus($("thread-status"), "Descargando el archivo otra vez…");
      renderThread();
      refreshThread();
    } catch (error) {
      V.setStatus($("thread-status"), error.message, true);
      button.disabled = false;
    }
  }

  // ---- the attached file ----

  function fileProblem(file) {
    const type = (file.type || "").toLowerCase();
    const isImage = IMAGE_TYPES.has(type);
    const isDocument = DOCUMENT_TYPES.has(type) || (!type && DOCUMENT_EXTENSIONS.test(file.name || ""))
      || (type === "application/octet-stream" && DOCUMENT_EXTENSIONS.test(file.name || ""));
    if (!isImage && !isDocument) {
      return `«${file.name || "El archivo"}» no se puede enviar: adjunta una foto (JPG, PNG o WebP) o un documento (PDF, Word, Excel o PowerPoint).`;
    }
    if (file.size > MAX_FILE_BYTES) {
      return `«${file.name}» pesa ${humanSize(file.size)}: el máximo es ${humanSize(MAX_FILE_BYTES)}.`;
    }
    if (file.size === 0) return `«${file.name}» está vacío.`;
    return null;
  }

  function attach(file) {
    const status = $("reply-status");
    const problem = fileProblem(file);
    if (problem) {
      V.setStatus(status, problem, true);
      $("reply-file").value = "";
      return false;
    }
    state.file = file;
    $("attachment-name").textContent = `${file.name || "imagen"} (${humanSize(file.size)})`;
    $("attachment").hidden = false;
    $("reply-text").required = false;
    countChars($("reply-text"), $("reply-count"));
    V.setStatus(status, "");
    return true;
  }

  function clearFile() {
    state.file = null;
    $("reply-file").value = "";
    $("attachment").hidden = true;
    $("attachment-name").textContent = "";
    $("reply-text").required = true;
    countChars($("reply-text"), $("reply-count"));
  }

  function firstFile(list) {
    return list && list.length ? list[0] : null;
  }

  // ---- what the agent writes: counted as typed, refused beyond the limit with a clear message ----

  function limitOf(box) {
    return box === $("reply-text") && state.file ? MAX_CAPTION_CHARS : MAX_CHARS;
  }

  function countChars(box, out) {
    const limit = limitOf(box);
    const count = length(box.value.trim());
    const over = count > limit;
    const was = out.classList.contains("over");
    out.textContent = over
      ? `${count} de ${limit} caracteres: sobran ${count - limit}`
      : `${count} de ${limit} caracteres`;
    out.classList.toggle("over", over);
    if (over) box.setAttribute("aria-invalid", "true");
    else box.removeAttribute("aria-invalid");
    if (over && !was) V.announce(`Pasaste el límite de ${limit} caracteres.`);
  }

  // The Spanish refusal for a text beyond its limit, or null.
  function tooLong(box, subject, outcome) {
    const limit = limitOf(box);
    const count = length(box.value.trim());
    if (count <= limit) return null;
    const extra = plural(count - limit, "carácter", "caracteres");
    return `${subject} tiene ${count} caracteres y el máximo es ${limit}: quita ${extra} o divídela en partes. ${outcome}`;
  }

  async function sendReply(event) {
    event.preventDefault();
    if (state.sending) return;
    const box = $("reply-text");
    const status = $("reply-status");
    const content = box.value.trim();
    const file = state.file;
    if (!content && !file) {
      V.setStatus(status, "Escribe una respuesta o adjunta un archivo.", true);
      box.focus();
      return;
    }
    const subject = file ? "La descripción del archivo" : "La respuesta";
    const problem = tooLong(box, subject, "No se envió nada.");
    if (problem) {
      V.setStatus(status, problem, true);
      box.focus();
      return;
    }
    let body = { content };
    if (file) {
      body = new FormData();
      body.append("file", file, file.name || "imagen.png");
      if (content) body.append("content", content);
    }
    const button = $("reply").querySelector("button[type=submit]");
    button.disabled = true;
    state.sending = true;
    state.takenByMe.add(state.openId);
    V.setStatus(status, file ? "Enviando el archivo…" : "Enviando…");
    try {
      mergeMessages([await V.api("POST", `${base}/${state.openId}/messages`, body)]);
      box.value = "";
      clearFile();
      countChars(box, $("reply-count"));
      V.setStatus(status, file ? "Archivo en camino al cliente." : "Respuesta en camino al cliente.");
      $("messages").dataset.fresh = "true";
      renderThread();
      loadThread();
    } catch (error) {
      if (!windowClosedBy(error)) V.setStatus(status, error.message, true);
    } finally {
      button.disabled = false;
      state.sending = false;
    }
  }

  async function saveNote(event) {
    event.preventDefault();
    const box = $("note-text");
    const status = $("note-status");
    const content = box.value.trim();
    if (!content) {
      V.setStatus(status, "Escribe la nota antes de guardarla.", true);
      box.focus();
      return;
    }
    const problem = tooLong(box, "La nota", "No se guardó.");
    if (problem) {
      V.setStatus(status, problem, true);
      box.focus();
      return;
    }
    const button = $("note").querySelector("button[type=submit]");
    button.disabled = true;
    V.setStatus(status, "Guardando…");
    try {
      mergeMessages([await V.api("POST", `${base}/${state.openId}/notes`, { content })]);
      box.value = "";
      countChars(box, $("note-count"));
      V.setStatus(status, "Nota guardada: solo la ve el equipo.");
      $("messages").dataset.fresh = "true";
      renderThread();
    } catch (error) {
      V.setStatus(status, error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  // ---- the Cloud API's 24-hour window: a template picker instead of free text once it closed ----

  function timeLeft(ms) {
    const minutes = Math.max(1, Math.ceil(ms / 60000));
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    const inMinutes = plural(rest, "minuto", "minutos");
    if (!hours) return inMinutes;
    return rest ? `${plural(hours, "hora", "horas")} y ${inMinutes}` : plural(hours, "hora", "horas");
  }

  // `d` null: no conversation (or a WhatsApp-Web branch, whose serviceWindowEndsAt is null): no window at all.
  function renderWindow(d) {
    const ends = d ? d.serviceWindowEndsAt : null;
    const left = ends ? Date.parse(ends) - Date.now() : Infinity;
    const closed = Boolean(ends) && (left <= 0 || state.closedWindow === ends);
    const box = $("window-closed");
    const opening = closed && box.hidden;
    box.hidden = !closed;
    $("reply").hidden = closed;
    const hint = $("window-hint");
    hint.hidden = closed || left > WINDOW_HINT_MS;
    if (!hint.hidden) {
      const text = `Quedan ${timeLeft(left)} de las 24 horas para responder con texto libre (hasta las `
        + `${V.formatTime(ends)}); después solo se podrá enviar una plantilla aprobada.`;
      if (hint.textContent !== text) hint.textContent = text;
    }
    if (opening) {
      V.announce($("window-notice").textContent);
      loadTemplates();
    }
  }

  // A refusal of free text because the window closed meanwhile (409) switches to the picker; says whether it did.
  function windowClosedBy(error) {
    const d = state.detail;
    if (!(error instanceof V.ApiError) || error.status !== 409 || !d || !d.serviceWindowEndsAt) return false;
    state.closedWindow = d.serviceWindowEndsAt;
    renderWindow(d);
    V.setStatus($("template-status"), "La ventana de 24 horas se cerró mientras tanto: elige una plantilla aprobada.", true);
    refreshThread();
    return true;
  }

  function templateProblem(error, what) {
    const said = {
      404: "Meta ya no tiene esa plantilla para este número; vuelve a cargar las plantillas.",
      409: "La sucursal no tiene configurado el WhatsApp Business Account ID: pide a un administrador que lo agregue.",
      422: "La plantilla no está aprobada o no lleva esos datos; vuelve a cargar las plantillas.",
      502: "Meta rechazó la solicitud; revisa la plantilla en el WhatsApp Manager de Meta.",
      503: "Meta no respondió; intenta de nuevo en unos segundos.",
    }[error.status];
    return `${what}: ${said || error.message}`;
  }

  async function loadTemplates() {
    if (state.templates || state.templatesLoading) return;
    state.templatesLoading = true;
    const status = $("template-status");
    $("template-reload").hidden = true;
    const loading = "Cargando las plantillas…";
    V.setStatus(status, loading);
    try {
      const listed = await V.api("GET", `/api/service-points/${pointId}/whatsapp/cloud/templates`);
      state.templates = listed.filter((t) => t.status === "APPROVED");
      if (state.templates.length) {
        if (status.textContent === loading) V.setStatus(status, ""); // what was said meanwhile stays
      } else V.setStatus(status, "Este número no tiene plantillas aprobadas: créalas en el WhatsApp Manager de Meta.", true);
    } catch (error) {
      V.setStatus(status, templateProblem(error, "No se pudieron cargar las plantillas"), true);
    } finally {
      state.templatesLoading = false;
    }
    $("template-reload").hidden = Boolean(state.templates && state.templates.length);
    renderTemplates();
  }

  function chosenTemplate() {
    const index = $("template-choice").value;
    return index === "" || !state.templates ? null : state.templates[Number(index)] || null;
  }

  function renderTemplates() {
    const select = $("template-choice");
    const items = state.templates || [];
    const previous = select.value;
    select.replaceChildren(
      V.el("option", { value: "", text: items.length ? "Elige una plantilla…" : "Sin plantillas aprobadas" }),
      ...items.map((t, index) => V.el("option", { value: String(index), text: `${t.name} (${t.language})` })));
    if (previous && Number(previous) < items.length) select.value = previous;
    select.disabled = !items.length;
    renderTemplateChoice();
  }

  // The chosen template's body, {{1}}, {{2}}... as Meta has it, and one input per parameter.
  function renderTemplateChoice() {
    const template = chosenTemplate();
    $("template-body").textContent = template ? template.body : "";
    const params = $("template-params");
    const inputs = [];
    for (let n = 1; template && n <= template.parameterCount; n += 1) {
      const id = `template-param-${n}`;
      inputs.push(V.el("div", { className: "field" },
        V.el("label", { for: id, text: `Valor para {{${n}}}` }),
        V.el("input", { id, name: `param-${n}`, maxlength: "1024", autocomplete: "off", required: true })));
    }
    for (const field of inputs) {
      const input = field.querySelector("input");
      input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
    }
    params.replaceChildren(params.querySelector("legend"), ...inputs);
    params.hidden = !inputs.length;
    $("template-send").disabled = !template;
  }

  async function sendTemplate(event) {
    event.preventDefault();
    const status = $("template-status");
    const template = chosenTemplate();
    if (!template) {
      V.setStatus(status, "Elige una plantilla.", true);
      $("template-choice").focus();
      return;
    }
    const inputs = [...$("template-params").querySelectorAll("input")];
    for (const input of inputs) input.removeAttribute("aria-invalid");
    const empty = inputs.find((input) => !input.value.trim());
    if (empty) {
      empty.setAttribute("aria-invalid", "true");
      empty.focus();
      V.setStatus(status, `${empty.labels[0].textContent}: escribe el dato que va en la plantilla.`, true);
      return;
    }
    const button = $("template-send");
    button.disabled = true;
    state.takenByMe.add(state.openId);
    V.setStatus(status, "Enviando la plantilla…");
    const body = { name: template.name, language: template.language, parameters: inputs.map((i) => i.value.trim()) };
    try {
      mergeMessages([await V.api("POST", `${base}/${state.openId}/templates`, body)]);
      for (const input of inputs) input.value = "";
      V.setStatus(status, "Plantilla en camino al cliente. Cuando responda, se podrá escribir libremente otra vez.");
      $("messages").dataset.fresh = "true";
      renderThread();
      loadThread();
    } catch (error) {
      V.setStatus(status, templateProblem(error, "No se envió la plantilla"), true);
      $("template-reload").hidden = false;
    } finally {
      button.disabled = !chosenTemplate();
    }
  }

  // ---- wiring ----

  const refreshList = debounced(() => loadList());
  const refreshThread = debounced(() => loadThread());
  const refreshCounts = debounced(() => loadCounts(), 300);
  const refreshShipments = debounced(() => loadShipments(), 500);
  const refreshLabels = debounced(() => loadLabels(), 1000);

  $("filters").addEventListener("change", (event) => {
    if (event.target.name === "filter") state.filter = event.target.value;
    else if (event.target.name === "label") state.label = event.target.value;
    else return;
    state.items = [];
    loadList();
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("q").value.trim();
    state.items = [];
    loadList();
  });
  $("q").addEventListener("input", debounced(() => {
    state.q = $("q").value.trim();
    state.items = [];
    loadList();
  }, 400));
  $("more").addEventListener("click", () => loadList(true));
  for (const list of [$("conversations"), $("waiting-list")]) {
    list.addEventListener("click", (event) => {
      const link = event.target.closest(".conv-link");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      openConversation(link.dataset.id);
    });
  }
  $("back").addEventListener("click", () => closeConversation());
  window.addEventListener("popstate", () => {
    const id = new URLSearchParams(location.search).get("c");
    if (id) openConversation(id, { push: false });
    else closeConversation({ push: false });
  });
  $("take").addEventListener("click", take);
  $("resolve").addEventListener("click", () =>
    change({ status: "RESOLVED" }, "Conversación resuelta. Si el cliente vuelve a escribir, la atiende el bot."));
  $("give-back").addEventListener("click", () =>
    change({ status: "BOT" }, "Conversación devuelta al bot."));
  $("label-form").addEventListener("submit", addLabel);
  $("older").addEventListener("click", async () => {
    try {
      const page = await V.api("GET", `${base}/${state.openId}/messages?limit=${PAGE}&before=${encodeURIComponent(state.olderCursor)}`);
      mergeMessages(page.items);
      state.olderCursor = page.nextCursor;
      state.stick = false;
      $("messages").dataset.older = "true";
      renderThread();
      if (!state.olderCursor) { // the button is gone: the focus goes to the oldest message, without scrolling
        const oldest = $("messages").querySelector(".msg");
        if (oldest) oldest.focus({ preventScroll: true });
      }
    } catch (error) {
      V.setStatus($("thread-status"), error.message, true);
    }
  });
  $("reply").addEventListener("submit", sendReply);
  $("template-form").addEventListener("submit", sendTemplate);
  $("template-choice").addEventListener("change", renderTemplateChoice);
  $("template-reload").addEventListener("click", () => {
    state.templates = null;
    loadTemplates();
  });
  $("note").addEventListener("submit", saveNote);
  $("messages").addEventListener("scroll", () => {
    const list = $("messages");
    state.stick = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_END_PX;
    if (state.stick && state.unseen) {
      state.unseen = 0;
      renderUnseen();
    }
  }, { passive: true });
  $("jump-new").addEventListener("click", () => {
    toEnd();
    renderUnseen();
    const last = $("messages").lastElementChild;
    if (last) last.focus({ preventScroll: true });
  });
  // A taller or shorter thread (the window, the phone's keyboard, an image that loaded) keeps its end in view.
  if (window.ResizeObserver) new ResizeObserver(keepAtEnd).observe($("messages"));
  $("reply-text").addEventListener("input", () => {
    countChars($("reply-text"), $("reply-count"));
    if ($("reply-text").value.trim()) tellTyping();
  });
  $("note-text").addEventListener("input", () => countChars($("note-text"), $("note-count")));
  $("alerts").addEventListener("click", toggleAlerts);
  for (const gesture of ["pointerdown", "keydown"]) {
    document.addEventListener(gesture, unlockAudio, { once: true, capture: true });
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") markRead();
  });
  $("reply-file").addEventListener("change", () => {
    const file = firstFile($("reply-file").files);
    if (file) attach(file);
    else clearFile();
  });
  $("attachment-remove").addEventListener("click", () => {
    clearFile();
    V.setStatus($("reply-status"), "Archivo quitado.");
    $("reply-file").focus();
  });
  $("reply-text").addEventListener("paste", (event) => {
    const data = event.clipboardData;
    const image = data && [...data.files].find((file) => file.type.startsWith("image/"));
    if (!image) return;
    if (!data.types.includes("text/plain")) event.preventDefault(); // only an image: nothing to paste as text
    if (attach(image)) V.setStatus($("reply-status"), "Imagen pegada: se enviará con el texto como descripción.");
  });

  // Drag and drop of a file onto the conversation; a file dropped anywhere else must not replace the page.
  const hasFiles = (event) => Boolean(event.dataTransfer && [...event.dataTransfer.types].includes("Files"));
  let dragDepth = 0;
  const thread = $("thread");
  const dropping = (on) => {
    thread.classList.toggle("dropping", on);
    $("drop-hint").hidden = !on;
  };
  thread.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    dropping(true);
  });
  thread.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  thread.addEventListener("dragleave", (event) => {
    if (!hasFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropping(false);
  });
  thread.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.stopPropagation();
    dragDepth = 0;
    dropping(false);
    const files = event.dataTransfer.files;
    const file = firstFile(files);
    if (!file) return;
    if (attach(file)) {
      const more = files.length > 1 ? " Solo se envía un archivo a la vez: se adjuntó el primero." : "";
      V.setStatus($("reply-status"), `Archivo adjunto.${more}`);
      $("reply-text").focus();
    }
  });
  window.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
  window.addEventListener("drop", (event) => { if (hasFiles(event)) event.preventDefault(); });

  // The full-size photo.
  const viewer = $("viewer");
  $("viewer-close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("click", (event) => { if (event.target === viewer) viewer.close(); });
  viewer.addEventListener("close", () => { $("viewer-img").removeAttribute("src"); });
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("reply").requestSubmit();
  });

  V.live(pointId, {
    "message.new": (e) => {
      refreshList();
      refreshCounts();
      if (e.conversationId === state.openId) {
        refreshThread();
        if (e.direction === "IN") refreshShipments();
        if (state.typing && e.senderType === "AGENT") stopTyping();
      } else if (e.direction === "IN" && e.kind !== "note") {
        V.announce("Nuevo mensaje de un cliente.");
      }
    },
    "message.status": (e) => { if (e.conversationId === state.openId) refreshThread(); },
    // its file arrived or failed, a reaction, a transcript
    "message.updated": (e) => { if (e.conversationId === state.openId) refreshThread(); },
    "conversation.updated": (e) => {
      refreshList();
      refreshCounts();
      refreshLabels();
      if (e.conversationId === state.openId) refreshThread();
    },
    "handoff.requested": (e) => {
      refreshList();
      refreshCounts();
      if (e.conversationId === state.openId) refreshThread();
    },
    "conversation.typing": colleagueTyping,
  }, () => {
    refreshList();
    refreshThread();
    refreshCounts();
  });

  window.setInterval(() => {
    renderList();
    if (state.detail) renderThread();
  }, 30000);

  (async () => {
    renderAlerts();
    countChars($("reply-text"), $("reply-count"));
    countChars($("note-text"), $("note-count"));
    try {
      const members = await V.api("GET", `/api/service-points/${pointId}/members`);
      for (const member of members) state.members.set(member.userId, member.name);
    } catch {
      // names are a nicety: without them the page says "otra persona"
    }
    loadLabels();
    loadCounts();
    await loadList();
    const wanted = new URLSearchParams(location.search).get("c");
    if (wanted) openConversation(wanted, { push: false, focus: false });
  })();
})();


// Canned responses in the reply box: "/" at the start of a word, then the first letters of a shortcut, opens a list
// of the point's canned responses and the global ones. Arrows and Enter (or a click) put the content in place of
// "/shortcut"; Escape closes the list and leaves the text as typed. The box stays the focus throughout, and the
// list follows the listbox pattern (aria-activedescendant), so screen readers hear the option being chosen.
(() => {
  const root = document.getElementById("inbox");
  const box = document.getElementById("reply-text");
  if (!root || !box) return;
  const pointId = root.dataset.point;
  const FRESH_MS = 60000; // created meanwhile by a colleague: seen at most a minute later, without a reload
  const MAX_SHOWN = 8;
  // "/" at the start of the box or after white space, then what is typed so far, up to the caret.
  const TOKEN = /(^|\s)\/([A-Za-z0-9_-]{0,32})$/;
  const cache = new Map(); // point id -> {at, items | null, loading}
  const list = V.el("ul", {
    id: "canned-list",
    className: "canned-list",
    role: "listbox",
    "aria-label": "Atajos disponibles",
    hidden: true,
  });
  box.after(list);
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", "canned-list");
  const hint = document.getElementById("reply-hint");
  if (hint) hint.append(" Escribe / y el atajo para insertar una respuesta rápida.");

  const picker = { open: false, start: -1, end: -1, matches: [], active: 0, dismissed: -1 };

  function entry() {
    let known = cache.get(pointId);
    if (!known) {
      known = { at: 0, items: null, loading: null };
      cache.set(pointId, known);
    }
    return known;
  }

  async function load() {
    const known = entry();
    if (known.loading) return known.loading;
    known.loading = (async () => {
      try {
        known.items = await V.api("GET", `/api/service-points/${pointId}/canned-responses`);
      } catch (error) {
        if (!known.items) V.setStatus(document.getElementById("reply-status"), error.message, true);
      } finally {
        known.at = Date.now();
        known.loading = null;
      }
    })();
    return known.loading;
  }

  function token() {
    if (box.selectionStart !== box.selectionEnd) return null;
    const end = box.selectionStart;
    const found = TOKEN.exec(box.value.slice(0, end));
    if (!found) return null;
    return { start: end - found[2].length - 1, end, prefix: found[2].toLowerCase() };
  }

  function close() {
    picker.open = false;
    picker.matches = [];
    list.hidden = true;
    list.replaceChildren();
    box.removeAttribute("aria-activedescendant");
  }

  function preview(text) {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > 90 ? `${flat.slice(0, 89)}…` : flat;
  }

  function render() {
    list.replaceChildren(...picker.matches.map((item, index) => {
      const option = V.el("li", {
        id: `canned-option-${index}`,
        role: "option",
        className: "canned-option",
        "aria-selected": index === picker.active ? "true" : "false",
      },
      V.el("span", { className: "canned-shortcut", text: `/${item.shortcut}` }),
      " ",
      V.el("span", { className: "canned-content", text: preview(item.content) }),
      item.global ? V.el("span", { className: "canned-scope", text: " (todas las sucursales)" }) : null);
      // Keep the focus (and the caret) in the box: the click alone chooses.
      option.addEventListener("mousedown", (event) => event.preventDefault());
      option.addEventListener("click", () => {
        picker.active = index;
        insert();
      });
      return option;
    }));
    list.hidden = false;
    const active = document.getElementById(`canned-option-${picker.active}`);
    box.setAttribute("aria-activedescendant", active.id);
    active.scrollIntoView({ block: "nearest" });
  }

  async function update() {
    const found = token();
    if (!found || found.start === picker.dismissed) {
      if (!found) picker.dismissed = -1;
      close();
      return;
    }
    const known = entry();
    if (!known.items || Date.now() - known.at > FRESH_MS) {
      await load();
      if (!known.items) return;
      const again = token(); // the agent kept typing meanwhile
      if (!again || again.start !== found.start) return update();
    }
    const current = token() || found;
    const matches = known.items.filter((item) => item.shortcut.startsWith(current.prefix)).slice(0, MAX_SHOWN);
    if (!matches.length) {
      close();
      return;
    }
    const wasOpen = picker.open;
    picker.open = true;
    picker.start = current.start;
    picker.end = current.end;
    picker.matches = matches;
    if (!wasOpen || picker.active >= matches.length) picker.active = 0;
    render();
    if (!wasOpen) {
      V.announce(`${matches.length} ${matches.length === 1 ? "respuesta rápida" : "respuestas rápidas"}: flechas para elegir, Intro para insertar, Escape para cerrar.`);
    }
  }

  function insert() {
    const item = picker.matches[picker.active];
    if (!item) return;
    const before = box.value.slice(0, picker.start);
    const after = box.value.slice(picker.end);
    box.value = `${before}${item.content}${after}`;
    const caret = before.length + item.content.length;
    box.focus();
    box.setSelectionRange(caret, caret);
    close();
    box.dispatchEvent(new Event("input")); // the character count follows; no "/" left, so the list stays closed
    V.announce(`Insertada la respuesta rápida /${item.shortcut}.`);
  }

  function move(step) {
    const count = picker.matches.length;
    picker.active = (picker.active + step + count) % count;
    render();
  }

  box.addEventListener("input", () => { update(); });
  box.addEventListener("click", () => { update(); });
  box.addEventListener("keydown", (event) => {
    if (!picker.open || event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      move(event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter" || event.key === "Tab") {
      if (event.shiftKey) return;
      event.preventDefault();
      insert();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // only the list closes, not what contains the box
      picker.dismissed = picker.start;
      close();
    }
  });
  // Moving the caret out of the word (arrows, Home, End) closes the list; typing reopens it.
  box.addEventListener("keyup", (event) => {
    if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) update();
  });
  box.addEventListener("blur", close);
  box.form?.addEventListener("submit", close);
})();
