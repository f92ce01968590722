// The inbox of a branch: conversations with filters and search, one conversation's messages (texts, photos, audio,
// video, documents, locations, contacts, replies and reactions) and history, take over, answer with a text or a file,
// give back. Everything follows the branch's live events, so nothing needs a reload.
// Message content only ever reaches the page through textContent and attributes, never as HTML.
"use strict";

(() => {
  const root = document.getElementById("inbox");
  if (!root) return;
  const pointId = root.dataset.point;
  const me = root.dataset.me;
  const base = `/api/service-points/${pointId}/conversations`;
  const $ = (id) => document.getElementById(id);
  const STATUS = { BOT: "Bot", HUMAN: "Persona" };
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

  const state = {
    filter: "all",
    q: "",
    items: [],
    nextCursor: null,
    openId: null,
    detail: null,
    messages: new Map(),
    nodes: new Map(), // message id -> {key, node}: unchanged messages keep their node (a playing audio goes on)
    olderCursor: null,
    stick: true, // the thread is scrolled to its end: new messages and loaded images keep it there
    file: null, // the file attached to the reply
    sending: false,
    members: new Map([[me, root.dataset.meName]]),
  };

  function who(userId) {
    if (!userId) return "nadie";
    const name = state.members.get(userId) || "otra persona";
    return userId === me ? `${name} (tú)` : name;
  }

  // Coalesce bursts of events into one request.
  function debounced(fn, ms = 150) {
    let timer = null;
    return () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(fn, ms);
    };
  }

  // ---- the list ----

  function listUrl(cursor, limit) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (state.filter === "BOT" || state.filter === "HUMAN") query.set("status", state.filter);
    if (state.filter === "mine") query.set("assignedTo", "me");
    if (state.filter === "waiting") query.set("waiting", "true");
    if (state.q) query.set("q", state.q);
    if (cursor) query.set("cursor", cursor);
    return `${base}?${query}`;
  }

  async function loadList(append = false) {
    const limit = append ? PAGE : Math.min(200, Math.max(PAGE, state.items.length));
    try {
      const page = await V.api("GET", listUrl(append ? state.nextCursor : null, limit));
      state.items = append ? state.items.concat(page.items) : page.items;
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
    link.append(
      V.el("span", { className: "conv-phone", text: c.customerPhone }),
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
    return V.el("li", { className: waiting ? "conv waiting" : "conv" }, link);
  }

  function renderList() {
    const list = $("conversations");
    list.replaceChildren(...state.items.map(conversationItem));
    if (!state.items.length) {
      const filtered = state.filter !== "all" || state.q;
      list.append(V.el("li", { className: "muted empty", text: filtered ? "Ninguna conversación coincide." : "Todavía no hay conversaciones." }));
    }
    $("more").hidden = !state.nextCursor;
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
    const author = V.el("p", { className: "msg-author", text: note ? `Nota interna de ${authorOf(m)}` : authorOf(m) });
    if (m.sentFromPhone) author.append(" ", V.el("span", { className: "tag phone", text: "desde el teléfono" }));
    item.append(author);
    if (m.replyTo || m.quote) item.append(quoteBlock(m));
    item.append(...bodyOf(m));
    const meta = V.el("p", { className: "msg-meta" }, V.el("time", { datetime: m.timestamp, text: V.formatTime(m.timestamp) }));
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

  // The node of a message, reused while nothing shown in it changed.
  function messageNode(m) {
    const key = JSON.stringify(m) + V.formatTime(m.timestamp);
    const known = state.nodes.get(m.id);
    if (known && known.key === key) return known.node;
    const node = messageItem(m);
    state.nodes.set(m.id, { key, node });
    return node;
  }

  function eventText(e) {
    const actor = e.actorUserId ? who(e.actorUserId) : "El bot";
    const reason = e.reason ? `: ${e.reason}` : ".";
    if (e.kind === "HANDOFF_REQUESTED") return `El bot pasó la conversación a una persona${reason}`;
    if (e.kind === "STATUS_CHANGED" && e.toStatus === "HUMAN") return `${actor} tomó la conversación${reason}`;
    if (e.kind === "STATUS_CHANGED" && e.toStatus === "BOT") return `${actor} devolvió la conversación al bot${reason}`;
    if (e.kind === "ASSIGNED") {
      return e.assignedToUserId ? `${actor} asignó la conversación a ${who(e.assignedToUserId)}.` : `${actor} quitó la asignación.`;
    }
    return `${actor}: ${e.kind}`;
  }

  function eventItem(e) {
    return V.el("li", { className: "event" },
      V.el("p", { text: eventText(e) }),
      V.el("time", { datetime: e.createdAt, text: V.formatTime(e.createdAt) }));
  }

  function renderThread() {
    const d = state.detail;
    if (!d) return;
    $("thread-title").textContent = d.customerPhone;
    let text;
    if (d.status === "BOT") text = "Atiende el bot.";
    else if (d.assignedToUserId) text = `Atiende una persona: ${who(d.assignedToUserId)}.`;
    else text = "Espera a una persona (sin asignar).";
    if (d.waitingSince) text += ` Sin respuesta desde hace ${V.since(d.waitingSince)}.`;
    $("thread-state").textContent = text;
    const handoff = $("thread-handoff");
    handoff.hidden = !(d.status === "HUMAN" && d.handoffReason);
    handoff.textContent = d.handoffReason ? `Motivo del traspaso: ${d.handoffReason}` : "";
    $("take").hidden = d.status === "HUMAN" && d.assignedToUserId === me;
    $("give-back").hidden = d.status !== "HUMAN";
    $("older").hidden = !state.olderCursor;

    const list = $("messages");
    const entries = [
      ...[...state.messages.values()].map((m) => ({ at: m.timestamp, node: () => messageNode(m) })),
      ...d.events.map((e) => ({ at: e.createdAt, node: () => eventItem(e) })),
    ].sort((a, b) => new Date(a.at) - new Date(b.at));
    const nodes = entries.map((entry) => entry.node());
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const scrollTop = list.scrollTop;
    list.replaceChildren(...nodes);
    if (focused && list.contains(focused) && document.activeElement !== focused) focused.focus({ preventScroll: true });
    if (state.stick || list.dataset.fresh === "true") {
      list.scrollTop = list.scrollHeight;
      state.stick = true;
      list.dataset.fresh = "false";
    } else {
      list.scrollTop = scrollTop;
    }
  }

  async function openConversation(id, { push = true, focus = true } = {}) {
    if (state.openId !== id) {
      state.openId = id;
      state.detail = null;
      state.messages = new Map();
      state.nodes = new Map();
      state.olderCursor = undefined;
      state.stick = true;
      clearFile();
      $("messages").replaceChildren();
      $("messages").dataset.fresh = "true";
      $("reply-status").textContent = "";
      $("thread-status").textContent = "";
    }
    if (push) history.pushState({ c: id }, "", `?c=${encodeURIComponent(id)}`);
    $("thread").hidden = false;
    $("thread-empty").hidden = true;
    root.classList.add("has-open");
    renderList();
    await loadThread();
    if (focus) {
      $("thread-title").setAttribute("tabindex", "-1");
      $("thread-title").focus();
    }
  }

  function closeConversation({ push = true } = {}) {
    const id = state.openId;
    state.openId = null;
    state.detail = null;
    $("thread").hidden = true;
    $("thread-empty").hidden = false;
    root.classList.remove("has-open");
    if (push) history.pushState({}, "", location.pathname);
    renderList();
    const link = id && document.querySelector(`.conv-link[data-id="${CSS.escape(id)}"]`);
    if (link) link.focus();
  }

  async function change(body, doneText) {
    const status = $("thread-status");
    V.setStatus(status, "Un momento…");
    try {
      await V.api("PATCH", `${base}/${state.openId}`, body);
      V.setStatus(status, doneText);
    } catch (error) {
      V.setStatus(status, error.message, true);
    }
    await Promise.all([loadThread(), loadList()]);
  }

  async function retryMessage(messageId, button) {
    button.disabled = true;
    try {
      mergeMessages([await V.api("POST", `${base}/${state.openId}/messages/${messageId}/retry`)]);
      renderThread();
    } catch (error) {
      V.setStatus($("thread-status"), error.message, true);
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
    V.setStatus(status, "");
    return true;
  }

  function clearFile() {
    state.file = null;
    $("reply-file").value = "";
    $("attachment").hidden = true;
    $("attachment-name").textContent = "";
    $("reply-text").required = true;
  }

  function firstFile(list) {
    return list && list.length ? list[0] : null;
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
    if (file && content.length > MAX_CAPTION_CHARS) {
      V.setStatus(status, `Con un archivo, el texto puede tener hasta ${MAX_CAPTION_CHARS} caracteres (tiene ${content.length}).`, true);
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
    V.setStatus(status, file ? "Enviando el archivo…" : "Enviando…");
    try {
      mergeMessages([await V.api("POST", `${base}/${state.openId}/messages`, body)]);
      box.value = "";
      clearFile();
      V.setStatus(status, file ? "Archivo en camino al cliente." : "Respuesta en camino al cliente.");
      $("messages").dataset.fresh = "true";
      renderThread();
      loadThread();
    } catch (error) {
      V.setStatus(status, error.message, true);
    } finally {
      button.disabled = false;
      state.sending = false;
    }
  }

  // ---- wiring ----

  const refreshList = debounced(() => loadList());
  const refreshThread = debounced(() => loadThread());

  $("filters").addEventListener("change", (event) => {
    if (event.target.name !== "filter") return;
    state.filter = event.target.value;
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
  $("conversations").addEventListener("click", (event) => {
    const link = event.target.closest(".conv-link");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    openConversation(link.dataset.id);
  });
  $("back").addEventListener("click", () => closeConversation());
  window.addEventListener("popstate", () => {
    const id = new URLSearchParams(location.search).get("c");
    if (id) openConversation(id, { push: false });
    else closeConversation({ push: false });
  });
  $("take").addEventListener("click", () =>
    change({ status: "HUMAN", assignedToUserId: me }, "Tomaste la conversación: el bot ya no responde en ella."));
  $("give-back").addEventListener("click", () =>
    change({ status: "BOT" }, "Conversación devuelta al bot."));
  $("older").addEventListener("click", async () => {
    try {
      const page = await V.api("GET", `${base}/${state.openId}/messages?limit=${PAGE}&before=${encodeURIComponent(state.olderCursor)}`);
      mergeMessages(page.items);
      state.olderCursor = page.nextCursor;
      renderThread();
    } catch (error) {
      V.setStatus($("thread-status"), error.message, true);
    }
  });
  $("reply").addEventListener("submit", sendReply);
  $("messages").addEventListener("scroll", () => {
    const list = $("messages");
    state.stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }, { passive: true });
  // A taller or shorter thread (the window, the phone's keyboard, an image that loaded) keeps its end in view.
  if (window.ResizeObserver) new ResizeObserver(keepAtEnd).observe($("messages"));
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
      if (e.conversationId === state.openId) refreshThread();
      else if (e.direction === "IN") V.announce("Nuevo mensaje de un cliente.");
    },
    "message.status": (e) => { if (e.conversationId === state.openId) refreshThread(); },
    // its file arrived or failed, a reaction, a transcript
    "message.updated": (e) => { if (e.conversationId === state.openId) refreshThread(); },
    "conversation.updated": (e) => {
      refreshList();
      if (e.conversationId === state.openId) refreshThread();
    },
    "handoff.requested": (e) => {
      refreshList();
      if (e.conversationId === state.openId) refreshThread();
      V.announce("Un cliente espera a una persona.");
    },
  }, () => {
    refreshList();
    refreshThread();
  });

  window.setInterval(() => {
    renderList();
    if (state.detail) renderThread();
  }, 30000);

  (async () => {
    try {
      const members = await V.api("GET", `/api/service-points/${pointId}/members`);
      for (const member of members) state.members.set(member.userId, member.name);
    } catch {
      // names are a nicety: without them the page says "otra persona"
    }
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
