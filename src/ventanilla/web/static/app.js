// Shared by every page: calls to the JSON API, forms that submit to it, dates, and the live event stream.
// Data from the server is only ever put into the page with textContent, never as HTML.
"use strict";

const V = (() => {
  const WHATSAPP = { CONNECTED: "Conectado", CONNECTING: "Conectando", DISCONNECTED: "Desconectado" };

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(describe(status, body));
      this.status = status;
      this.body = body;
    }
  }

  function describe(status, body) {
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    const plain = {
      400: "Revisa los datos",
      403: "No tienes permiso para hacer esto",
      404: "No se encontró (quizá alguien lo borró)",
      409: "No se pudo: choca con el estado actual",
      413: "El archivo es demasiado grande",
      415: "Ese tipo de archivo no sirve",
      422: "El archivo tiene errores",
      429: "Demasiados intentos; espera un momento",
      503: "WhatsApp no respondió; intenta de nuevo",
    }[status] || `Algo falló (error ${status})`;
    return detail ? `${plain}: ${detail}` : `${plain}.`;
  }

  async function api(method, url, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw new ApiError(0, { detail: "sin conexión con el servidor" });
    }
    if (response.status === 401) {
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new ApiError(401, { detail: "la sesión terminó" });
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function announce(text) {
    const region = document.getElementById("avisos");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 50);
  }

  const dateTime = new Intl.DateTimeFormat("es", { dateStyle: "short", timeStyle: "short" });
  const timeOnly = new Intl.DateTimeFormat("es", { timeStyle: "short" });

  function formatTime(iso) {
    const moment = new Date(iso);
    const today = new Date();
    return moment.toDateString() === today.toDateString() ? timeOnly.format(moment) : dateTime.format(moment);
  }

  function since(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 1) return "menos de un minuto";
    if (minutes < 60) return minutes === 1 ? "1 minuto" : `${minutes} minutos`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours === 1 ? "1 hora" : `${hours} horas`;
    const days = Math.floor(hours / 24);
    return days === 1 ? "1 día" : `${days} días`;
  }

  function setStatus(node, text, isError = false) {
    if (!node) return;
    node.textContent = text;
    node.classList.toggle("error", isError);
    node.setAttribute("role", isError ? "alert" : "status");
  }

  // The point's Server-Sent Events. `onOpen` runs on every (re)connection, to catch up on anything missed.
  function live(pointId, handlers, onOpen) {
    const indicator = document.getElementById("live");
    const source = new EventSource(`/api/service-points/${pointId}/events`);
    source.addEventListener("open", () => {
      if (indicator) indicator.textContent = "En vivo: los cambios aparecen solos.";
      if (onOpen) onOpen();
    });
    source.addEventListener("error", () => {
      if (indicator) indicator.textContent = "Sin conexión en vivo; reintentando…";
      if (source.readyState === EventSource.CLOSED) {
        api("GET", "/api/me").catch(() => {}); // a finished session sends the page to /login
      }
    });
    for (const [type, handler] of Object.entries(handlers)) {
      source.addEventListener(type, (event) => handler(JSON.parse(event.data)));
    }
    return source;
  }

  // Forms marked data-api send their fields as JSON to the API, then reload the page with a confirmation.
  function formBody(form) {
    const body = {};
    let url = form.dataset.api;
    for (const field of form.elements) {
      if (!field.name || field.disabled || field.type === "submit") continue;
      let value;
      if (field.dataset.kind === "bool") value = field.checked;
      else if (field.dataset.kind === "list") value = field.value.split(",").map((s) => s.trim()).filter(Boolean);
      else value = field.value.trim();
      if (url.includes(`{${field.name}}`)) {
        url = url.replace(`{${field.name}}`, encodeURIComponent(value));
        continue;
      }
      if (value === "") {
        if (field.dataset.empty === "null") body[field.name] = null;
        continue;
      }
      body[field.name] = value;
    }
    return { url, body };
  }

  function markFields(form, error) {
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
    const problems = error && error.body && Array.isArray(error.body.extra) ? error.body.extra : [];
    let first = null;
    for (const problem of problems) {
      const field = problem && problem.key ? form.elements.namedItem(problem.key) : null;
      if (field && field.setAttribute) {
        field.setAttribute("aria-invalid", "true");
        first = first || field;
      }
    }
    if (first) first.focus();
  }

  async function submitApiForm(form) {
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const status = form.querySelector("[data-form-status]");
    const { url, body } = formBody(form);
    const method = form.dataset.method || "POST";
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    setStatus(status, "Guardando…");
    try {
      await api(method, url, method === "DELETE" ? undefined : body);
      sessionStorage.setItem("ventanilla-flash", form.dataset.done || "Listo.");
      location.reload();
    } catch (error) {
      markFields(form, error);
      setStatus(status, error.message, true);
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    submitApiForm(form);
  });

  document.addEventListener("DOMContentLoaded", () => {
    for (const node of document.querySelectorAll("time[datetime]")) {
      if (node.dateTime) node.textContent = formatTime(node.dateTime);
    }
    const flash = document.getElementById("flash");
    const message = sessionStorage.getItem("ventanilla-flash");
    if (flash && message) {
      flash.textContent = message;
      flash.hidden = false;
    }
    sessionStorage.removeItem("ventanilla-flash");
  });

  return { WHATSAPP, el, api, ApiError, announce, formatTime, since, setStatus, live };
})();
