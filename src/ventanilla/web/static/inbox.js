// The inbox of a branch: conversations with filters and search, one conversation's messages and history, take
// over, answer, give back. Everything follows the branch's live events, so nothing needs a reload.
"use strict";

(() => {
  const root = document.getElementById("inbox");
  if (!root) return;
  const pointId = root.dataset.point;
  const me = root.dataset.me;
  const base = `/api/service-points/${pointId}/conversations`;
  const $ = (id) => document.getElementById(id);
  const STATUS = { BOT: "Bot", HUMAN: "Persona" };
  const DELIVERY = { PENDING: "Pendiente", SENT: "✓ Enviado", DELIVERED: "✓✓ Entregado", READ: "✓✓ Leído", FAILED: "No enviado" };
  const PAGE = 50;

  const state = {
    filter: "all",
    q: "",
    items: [],
    nextCursor: null,
    openId: null,
    detail: null,
    messages: new Map(),
    olderCursor: null,
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
        V.api("GET", `${base}/${id}/messages?limit=${PAGE}`),
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

  function messageItem(m) {
    const author = m.senderType === "CUSTOMER" ? "Cliente" : m.senderType === "BOT" ? "Bot" : who(m.senderUserId);
    const item = V.el("li", { className: `msg ${m.direction === "IN" ? "in" : "out"} ${m.senderType.toLowerCase()}` });
    item.append(V.el("p", { className: "msg-author", text: author }), V.el("p", { className: "msg-text", text: m.content }));
    const meta = V.el("p", { className: "msg-meta" }, V.el("time", { datetime: m.timestamp, text: V.formatTime(m.timestamp) }));
    if (m.direction === "OUT" && m.deliveryStatus) {
      meta.append(" · ", V.el("span", {
        className: `delivery ${m.deliveryStatus.toLowerCase()}`,
        text: DELIVERY[m.deliveryStatus] || m.deliveryStatus,
      }));
      if (m.deliveryStatus === "FAILED") {
        if (m.deliveryError) meta.append(V.el("span", { className: "delivery-error", text: ` (${m.deliveryError})` }));
        const retry = V.el("button", { type: "button", className: "link", text: "Reintentar" });
        retry.addEventListener("click", () => retryMessage(m.id, retry));
        meta.append(" ", retry);
      }
    }
    item.append(meta);
    return item;
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
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const entries = [
      ...[...state.messages.values()].map((m) => ({ at: m.timestamp, node: () => messageItem(m) })),
      ...d.events.map((e) => ({ at: e.createdAt, node: () => eventItem(e) })),
    ].sort((a, b) => new Date(a.at) - new Date(b.at));
    list.replaceChildren(...entries.map((entry) => entry.node()));
    if (atBottom || list.dataset.fresh === "true") {
      list.scrollTop = list.scrollHeight;
      list.dataset.fresh = "false";
    }
  }

  async function openConversation(id, { push = true, focus = true } = {}) {
    if (state.openId !== id) {
      state.openId = id;
      state.detail = null;
      state.messages = new Map();
      state.olderCursor = undefined;
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

  async function sendReply(event) {
    event.preventDefault();
    const box = $("reply-text");
    const status = $("reply-status");
    const content = box.value.trim();
    if (!content) {
      V.setStatus(status, "Escribe una respuesta.", true);
      box.focus();
      return;
    }
    const button = $("reply").querySelector("button[type=submit]");
    button.disabled = true;
    V.setStatus(status, "Enviando…");
    try {
      mergeMessages([await V.api("POST", `${base}/${state.openId}/messages`, { content })]);
      box.value = "";
      V.setStatus(status, "Respuesta en camino al cliente.");
      $("messages").dataset.fresh = "true";
      renderThread();
      loadThread();
    } catch (error) {
      V.setStatus(status, error.message, true);
    } finally {
      button.disabled = false;
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
