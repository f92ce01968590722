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

  // The API speaks English and names fields in camelCase (clients rely on it); people read Spanish. Every error
  // the pages show goes through `describe`: the field's Spanish name and a Spanish sentence, never the raw text.
  const FIELDS = {
    email: "Correo", password: "Contraseña", currentPassword: "Contraseña actual", newPassword: "Contraseña nueva",
    name: "Nombre", isAdmin: "Administrador", isActive: "Activo", userId: "Usuario", role: "Rol",
    servicePointId: "Sucursal", phoneNumber: "Número de teléfono", from: "Número del cliente", to: "Número",
    trackingNumber: "Número de guía", status: "Estado", origin: "Origen", destination: "Destino",
    eta: "Llegada estimada", senderName: "Remitente", recipientName: "Destinatario", lastUpdate: "Última actualización",
    content: "Texto", text: "Texto", caption: "Descripción", shortcut: "Atajo", question: "Pregunta", answer: "Respuesta",
    keywords: "Palabras clave", labels: "Etiquetas", label: "Etiqueta", timezone: "Zona horaria",
    businessHours: "Horario de atención", autoResolveHours: "Horas para resolver solo",
    assignmentTimeoutMinutes: "Minutos para reasignar", csatEnabled: "Encuesta de satisfacción",
    assignedTo: "Asignada a", assignedToUserId: "Asignada a", file: "Archivo", media: "Archivo", code: "Código",
    reason: "Motivo", header: "Encabezado", row: "Fila", q: "Búsqueda",
  };

  // [pattern of the API's message, Spanish sentence (a function of the match when it needs a number)]
  const MESSAGES = [
    [/^(Object )?missing required field|^required$|^missing/i, () => "es obligatorio"],
    [/^Expected `str` of length <= (\d+)/, (m) => `admite como máximo ${m[1]} caracteres`],
    [/^Expected `str` of length >= (\d+)/, (m) => `necesita al menos ${m[1]} caracteres`],
    [/^Expected `(array|object)` of length <= (\d+)/, (m) => `admite como máximo ${m[2]} elementos`],
    [/^Expected `(int|float|number)` >= (-?[\d.]+)/, (m) => `debe ser un número mayor o igual a ${m[2]}`],
    [/^Expected `(int|float|number)` <= (-?[\d.]+)/, (m) => `debe ser un número menor o igual a ${m[2]}`],
    [/^Expected `(int|float|number)/, () => "debe ser un número"],
    [/^Expected `bool/, () => "debe ser sí o no"],
    [/visible character|blank/i, () => "no puede quedar en blanco"],
    [/NUL character/, () => "tiene un carácter no permitido"],
    [/not an email address/, () => "no es un correo válido (por ejemplo ana@ejemplo.com)"],
    [/E\.164|phone number/i, () => "no es un número de teléfono válido (por ejemplo 0991234567 o +593991234567)"],
    [/tracking number/i, () => "no es un número de guía válido (por ejemplo ABC123456)"],
    [/time zone/i, () => "no es una zona horaria conocida (por ejemplo America/Guayaquil)"],
    [/RFC3339 encoded date$|ISO date|not a date/i, () => "no es una fecha válida (día/mes/año)"],
    [/datetime|timezone component/i, () => "no es una fecha y hora válida"],
    [/^Invalid enum value/, () => "no es una de las opciones permitidas"],
    [/unknown field/, () => "no se reconoce"],
    [/^wrong password$/, () => "no es correcta"],
    [/already (exists|registered)/, () => "ya está en uso"],
    [/^Expected `str` matching regex/, () => "tiene un formato incorrecto"],
    [/^Expected `/, () => "tiene un formato incorrecto"],
    [/at most (\d+) characters/, (m) => `admite como máximo ${m[1]} caracteres`],
  ];

  // Whole answers that are not about one field: [pattern of `detail`, Spanish sentence].
  const DETAILS = [
    [/cannot deactivate your own account/, "No puedes desactivar tu propia cuenta."],
    [/last active administrator/, "Debe quedar al menos un administrador activo."],
    [/wrong email or password/, "Correo o contraseña incorrectos."],
    [/a user with email .* already exists/, "Correo: ya hay un usuario con ese correo."],
    [/account is deactivated/, "Esta cuenta está desactivada; pide ayuda a un administrador."],
    [/user not found/, "No se encontró el usuario (quizá alguien lo borró)."],
    [/shipment not found/, "No se encontró el envío (quizá alguien lo borró)."],
    [/service point not found/, "No se encontró la sucursal."],
  ];

  const GENERAL = {
    0: "Sin conexión con el servidor; revisa la red e intenta de nuevo.",
    400: "Revisa los datos.",
    401: "La sesión terminó; vuelve a ingresar.",
    403: "No tienes permiso para hacer esto.",
    404: "No se encontró (quizá alguien lo borró).",
    409: "No se pudo: choca con el estado actual. Recarga la página e intenta de nuevo.",
    410: "Ya no está disponible.",
    413: "El archivo es demasiado grande.",
    415: "Ese tipo de archivo no sirve.",
    422: "El archivo tiene errores.",
    429: "Demasiados intentos; espera un momento.",
    503: "El servicio no respondió; intenta de nuevo en unos segundos.",
  };

  // "businessHours.mon[0][0]" -> "Horario de atención"; unknown names get a neutral word, never the raw key.
  function fieldLabel(key, labels = {}) {
    const name = String(key || "").split(/[.[]/)[0];
    return labels[name] || FIELDS[name] || "Un dato";
  }

  function problemText(message) {
    for (const [pattern, say] of MESSAGES) {
      const match = pattern.exec(String(message || ""));
      if (match) return say(match);
    }
    return "no es válido";
  }

  function problems(body) {
    const extra = body && Array.isArray(body.extra) ? body.extra : [];
    return extra.filter((p) => p && typeof p === "object" && (p.key || p.message));
  }

  // `labels`: the form's own names of its fields (what the person sees next to the input), preferred.
  function describe(status, body, labels = {}) {
    const listed = problems(body).filter((p) => p.key && p.key !== "body" && p.key !== "data");
    if (listed.length && status === 400) {
      return listed.map((p) => `${fieldLabel(p.key, labels)}: ${problemText(p.message)}.`).join(" ");
    }
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    for (const [pattern, sentence] of DETAILS) if (pattern.test(detail)) return sentence;
    // "trackingNumber: ABC123456 is already registered" and the like: a field named before the colon.
    const named = /^([A-Za-z]+): (.+)$/.exec(detail);
    if (named && FIELDS[named[1]]) return `${fieldLabel(named[1], labels)}: ${problemText(named[2])}.`;
    return GENERAL[status] || `Algo falló (error ${status}); intenta de nuevo.`;
  }

  // The label text of each named field of `form`, so messages use the words on the screen.
  function formLabels(form) {
    const labels = {};
    for (const field of form.elements) {
      if (!field.name || !field.labels || !field.labels.length) continue;
      const label = field.labels[0].cloneNode(true);
      for (const hidden of label.querySelectorAll(".visually-hidden")) hidden.remove();
      labels[field.name] = label.textContent.trim();
    }
    return labels;
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
      else if (field.dataset.kind === "json") value = JSON.parse(field.value);
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

  // The inputs the error names get aria-invalid (a key like "businessHours.mon[0][0]" marks "businessHours"), and
  // the first one takes the focus; a message naming a field in `detail` only ("email: ... already exists") too.
  function markFields(form, error) {
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
    const body = error && error.body;
    const keys = problems(body).map((p) => String(p.key || ""));
    const named = body && typeof body.detail === "string" ? /^([A-Za-z]+): /.exec(body.detail) : null;
    if (!keys.length && named) keys.push(named[1]);
    let first = null;
    for (const key of keys) {
      const field = form.elements.namedItem(key) || form.elements.namedItem(key.split(/[.[]/)[0]);
      const target = field && !field.setAttribute && field.length ? field[0] : field;
      if (target && target.setAttribute && target.type !== "hidden") {
        target.setAttribute("aria-invalid", "true");
        first = first || target;
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
      setStatus(status, error instanceof ApiError ? describe(error.status, error.body, formLabels(form)) : String(error), true);
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    submitApiForm(form);
  });

  // On a phone a table is shown as one card per row (style.css); each cell then names its column itself.
  function labelTable(table) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, index) => {
        if (names[index] && !cell.dataset.label) cell.dataset.label = names[index];
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const table of document.querySelectorAll("table.list")) labelTable(table);
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

  return {
    WHATSAPP, el, api, ApiError, describe, fieldLabel, markFields, labelTable, announce, formatTime, since, setStatus, live,
  };
})();
