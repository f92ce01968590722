// A branch's WhatsApp: link by QR or pairing code, watch the status change live, restart, relink or unlink. A
// branch on the official Cloud API has no QR, no pairing code and no phone to unlink: only its status and restart.
"use strict";

(() => {
  const section = document.getElementById("whatsapp");
  if (!section) return;
  const pointId = section.dataset.point;
  const base = `/api/service-points/${pointId}/whatsapp`;
  const $ = (id) => document.getElementById(id);
  const cloud = section.dataset.transport === "cloud";
  const buttons = { connect: $("connect"), restart: $("restart"), relink: $("relink"), logout: $("logout") };
  let current = {
    status: section.dataset.status,
    phoneNumber: section.dataset.phone || null,
    qrAvailable: section.dataset.qr === "true",
    lastError: section.dataset.error || null,
  };

  function cloudDetail(state) {
    if (state.status === "CONNECTED") {
      return state.phoneNumber ? `Meta aceptó el número ${state.phoneNumber}.` : "Meta aceptó el número.";
    }
    if (state.status === "CONNECTING") return "Consultando el número a Meta…";
    return "Sin conexión con Meta: revisa el último problema.";
  }

  function detail(state) {
    if (cloud) return cloudDetail(state);
    if (state.status === "CONNECTED") {
      return state.phoneNumber ? `WhatsApp vinculado al número ${state.phoneNumber}.` : "WhatsApp vinculado.";
    }
    if (state.status === "CONNECTING") {
      return state.qrAvailable ? "Esperando que escanees el código QR." : "Conectando con WhatsApp…";
    }
    return "Sin vincular: pulsa «Vincular WhatsApp» para mostrar un código QR.";
  }

  function showQr(fresh) {
    if (cloud) return;
    const box = $("qr-box");
    const img = $("qr");
    if (fresh || !img.getAttribute("src")) img.src = `${base}/qr?format=svg&t=${Date.now()}`;
    box.hidden = false;
  }

  function hideQr() {
    if (cloud) return;
    $("qr-box").hidden = true;
    $("qr").removeAttribute("src");
  }

  function render(state) {
    const previous = current.status;
    current = state;
    const badge = $("wa-badge");
    badge.dataset.status = state.status;
    badge.textContent = V.WHATSAPP[state.status] || state.status;
    $("wa-detail").textContent = detail(state);
    const error = $("wa-error");
    error.hidden = !state.lastError || state.status === "CONNECTED";
    $("wa-error-text").textContent = state.lastError || "";
    if (state.status !== "CONNECTED" && state.qrAvailable) showQr(false);
    else hideQr();
    const connected = state.status === "CONNECTED";
    buttons.restart.hidden = state.status === "DISCONNECTED" && !state.lastError;
    if (cloud) return;
    buttons.connect.hidden = connected || (state.status === "CONNECTING" && state.qrAvailable);
    buttons.relink.hidden = !connected;
    buttons.logout.hidden = state.status === "DISCONNECTED";
    $("pairing").hidden = connected;
    if (connected && previous !== "CONNECTED") {
      $("pair-code").hidden = true;
      $("wa-action-status").textContent = "";
    }
  }

  async function refresh() {
    try {
      render(await V.api("GET", base));
    } catch (error) {
      V.setStatus($("wa-action-status"), error.message, true);
    }
  }

  async function act(button, steps, done) {
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const status = $("wa-action-status");
    button.disabled = true;
    V.setStatus(status, "Un momento…");
    try {
      for (const step of steps) await V.api("POST", `${base}/${step}`);
      V.setStatus(status, done);
    } catch (error) {
      V.setStatus(status, error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  buttons.restart.addEventListener("click", () => act(buttons.restart, ["restart"], "Reiniciando la conexión…"));
  render(current);
  if (cloud) {
    V.live(pointId, { "whatsapp.status": (event) => render(event) }, refresh);
    return;
  }

  buttons.connect.addEventListener("click", () =>
    act(buttons.connect, ["connect"], "Pedimos un código a WhatsApp; aparecerá aquí en unos segundos."));
  buttons.relink.addEventListener("click", () =>
    act(buttons.relink, ["logout", "connect"], "Teléfono desvinculado; escanea el código nuevo con el otro teléfono."));
  buttons.logout.addEventListener("click", () => act(buttons.logout, ["logout"], "WhatsApp desvinculado."));

  $("qr").addEventListener("error", () => {
    if (current.status !== "CONNECTED") refresh(); // the code expired or was scanned meanwhile
  });

  $("pair-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = $("pair-status");
    const output = $("pair-code");
    const phone = $("pair-phone");
    phone.removeAttribute("aria-invalid");
    V.setStatus(status, "Pidiendo el código a WhatsApp…");
    try {
      const answer = await V.api("POST", `${base}/pair-code`, { phoneNumber: phone.value.trim() });
      output.textContent = answer.code;
      output.hidden = false;
      V.setStatus(status, `Escribe este código en el teléfono: ${answer.code}`);
    } catch (error) {
      if (error.status === 400) phone.setAttribute("aria-invalid", "true");
      V.setStatus(status, error.message, true);
    }
  });

  V.live(pointId, {
    "whatsapp.status": (event) => render(event),
    "whatsapp.qr": () => {
      if (current.status !== "CONNECTED") {
        $("wa-action-status").textContent = "";
        current.qrAvailable = true;
        render(current);
        showQr(true);
      }
    },
  }, refresh);
})();

// The branch's settings (supervisors and admins): name, time zone, business hours per weekday, auto-resolve,
// assignment timeout and CSAT. Checked here first so every message is Spanish and names the day or the field.
(() => {
  const form = document.getElementById("settings-form");
  if (!form) return;
  const status = document.getElementById("settings-status");
  const MAX_PER_DAY = 4;
  const SERVER = [
    [/before the closing time/, "la hora de apertura debe ser anterior a la de cierre"],
    [/overlaps/, "los intervalos se superponen"],
    [/at least one day/, "indica al menos un día, o marca «Atender a toda hora»"],
  ];

  class Problem extends Error {
    constructor(field, message) {
      super(message);
      this.field = field;
    }
  }

  function clock(hours, minutes) {
    const h = Number(hours);
    const m = Number(minutes);
    if (h > 24 || m > 59 || (h === 24 && m !== 0)) return null;
    return `${String(h).padStart(2, "0")}:${minutes}`;
  }

  function day(input) {
    const label = `Horario del ${input.dataset.dayName}`;
    const text = input.value.trim();
    if (!text) return [];
    const spans = text.split(/[,;]/).map((part) => part.trim()).filter(Boolean).map((part) => {
      const match = /^(\d{1,2}):(\d{2})\s*(?:-|–|a)\s*(\d{1,2}):(\d{2})$/.exec(part);
      const start = match && clock(match[1], match[2]);
      const end = match && clock(match[3], match[4]);
      if (!start || !end) throw new Problem(input, `${label}: «${part}» no es un intervalo como 08:00-18:00.`);
      if (start >= end) throw new Problem(input, `${label}: en «${part}» la apertura debe ser antes del cierre.`);
      return [start, end];
    });
    if (spans.length > MAX_PER_DAY) throw new Problem(input, `${label}: como máximo ${MAX_PER_DAY} intervalos.`);
    spans.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let i = 1; i < spans.length; i += 1) {
      if (spans[i][0] < spans[i - 1][1]) throw new Problem(input, `${label}: los intervalos se superponen.`);
    }
    return spans;
  }

  function whole(input, low, high, label) {
    const value = Number(input.value);
    if (!Number.isInteger(value) || value < low || value > high) {
      throw new Problem(input, `${label}: escribe un número entero entre ${low} y ${high}.`);
    }
    return value;
  }

  function body() {
    const field = (name) => form.elements.namedItem(name);
    const name = field("name").value.trim();
    if (!name) throw new Problem(field("name"), "Nombre de la sucursal: no puede quedar en blanco.");
    const timezone = field("timezone").value.trim();
    if (!timezone) throw new Problem(field("timezone"), "Zona horaria: elige una, por ejemplo America/Guayaquil.");
    let businessHours = null;
    if (!field("alwaysOpen").checked) {
      businessHours = {};
      for (const input of form.querySelectorAll("input[data-day]")) {
        const spans = day(input);
        if (spans.length) businessHours[input.dataset.day] = spans;
      }
      if (!Object.keys(businessHours).length) {
        throw new Problem(form.querySelector("input[data-day]"),
          "Horario de atención: indica al menos un día, o marca «Atender a toda hora».");
      }
    }
    return {
      name,
      timezone,
      businessHours,
      autoResolveHours: whole(field("autoResolveHours"), 1, 8760, "Horas para resolver solas las conversaciones"),
      assignmentTimeoutMinutes: whole(field("assignmentTimeoutMinutes"), 1, 1440, "Minutos para reasignar"),
      csatEnabled: field("csatEnabled").checked,
    };
  }

  // The API's 400 names the field ("businessHours.mon[1]"): the day's input and a Spanish sentence about it.
  function fromServer(error) {
    const problem = error.body && Array.isArray(error.body.extra) ? error.body.extra[0] : null;
    const match = problem && /^businessHours\.(\w+)/.exec(String(problem.key || ""));
    const input = match && form.querySelector(`input[data-day="${CSS.escape(match[1])}"]`);
    if (!input) {
      V.markFields(form, error);
      return new Problem(null, error.message);
    }
    const said = SERVER.find(([pattern]) => pattern.test(String(problem.message)));
    const text = said ? said[1] : "revisa los intervalos";
    return new Problem(input, `Horario del ${input.dataset.dayName}: ${text}.`);
  }

  function toggleDays() {
    const always = form.elements.namedItem("alwaysOpen").checked;
    for (const input of form.querySelectorAll("input[data-day]")) input.disabled = always;
  }

  form.elements.namedItem("alwaysOpen").addEventListener("change", toggleDays);
  toggleDays();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const button = form.querySelector("button[type=submit]");
    let problem = null;
    try {
      const data = body();
      button.disabled = true;
      V.setStatus(status, "Guardando…");
      await V.api("PATCH", `/api/service-points/${form.dataset.point}`, data);
      sessionStorage.setItem("ventanilla-flash", "Ajustes guardados.");
      location.reload();
      return;
    } catch (error) {
      problem = error instanceof Problem ? error : error instanceof V.ApiError ? fromServer(error) : error;
    }
    button.disabled = false;
    if (problem.field) {
      problem.field.setAttribute("aria-invalid", "true");
      problem.field.focus();
    }
    V.setStatus(status, problem.message, true);
  });
})();

// The Cloud API number of a branch (admins): the non-secret fields are filled from the API; the secrets are
// write-only, so an empty secret keeps the stored one. After saving, the webhook address to paste at Meta.
(() => {
  const form = document.getElementById("cloud-form");
  if (!form) return;
  const url = `/api/service-points/${form.dataset.point}/whatsapp/cloud`;
  const status = document.getElementById("cloud-status");
  const field = (name) => form.elements.namedItem(name);
  const SECRETS = ["accessToken", "appSecret", "verifyToken"];
  const LABELS = {
    phoneNumberId: "Phone Number ID",
    businessAccountId: "WhatsApp Business Account ID",
    accessToken: "Token de acceso",
    appSecret: "App Secret",
    verifyToken: "Token de verificación del webhook",
    alertTemplate: "Plantilla de avisos",
  };
  let stored = false; // the point already has a number: empty secrets keep the stored ones

  function showWebhook(path) {
    document.getElementById("webhook-url").textContent = location.origin + path;
    document.getElementById("webhook").hidden = false;
  }

  function fill(account) {
    stored = true;
    field("phoneNumberId").value = account.phoneNumberId;
    field("businessAccountId").value = account.businessAccountId || "";
    field("alertTemplate.name").value = account.alertTemplate ? account.alertTemplate.name : "";
    field("alertTemplate.language").value = account.alertTemplate ? account.alertTemplate.language : "";
    for (const name of SECRETS) {
      field(name).value = "";
      field(name).placeholder = "(guardado: vacío lo conserva)";
    }
    document.getElementById("c-secrets-rule").textContent =
      "Déjalos vacíos para conservar los guardados; escribe uno solo para cambiarlo.";
    showWebhook(account.webhookPath);
  }

  // Every problem in Spanish, with the names on the screen: a first setup without its secrets, bad formats, a
  // number that another branch has.
  function explain(error) {
    if (!(error instanceof V.ApiError)) return String(error);
    const extra = error.body && Array.isArray(error.body.extra) ? error.body.extra : [];
    if (error.status === 400 && extra.length) {
      return extra.map((problem) => {
        const label = V.fieldLabel(problem.key, LABELS);
        if (/first time/.test(String(problem.message))) return `${label}: es obligatorio la primera vez.`;
        return V.describe(400, { extra: [problem] }, LABELS);
      }).join(" ");
    }
    if (error.status === 409) return "Phone Number ID: otra sucursal ya usa este número; elige otro.";
    return error.message;
  }

  function body() {
    const text = (name) => field(name).value.trim();
    const data = { phoneNumberId: text("phoneNumberId"), businessAccountId: text("businessAccountId") || null };
    for (const name of SECRETS) if (field(name).value) data[name] = field(name).value;
    const name = text("alertTemplate.name");
    const language = text("alertTemplate.language");
    if (name || language) data.alertTemplate = { name, language };
    return data;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const missing = [];
    if (!field("phoneNumberId").value.trim()) missing.push("phoneNumberId");
    if (!stored) missing.push(...SECRETS.filter((name) => !field(name).value));
    if (missing.length) {
      for (const name of missing) field(name).setAttribute("aria-invalid", "true");
      field(missing[0]).focus();
      V.setStatus(status, missing.map((name) => `${LABELS[name]}: es obligatorio.`).join(" "), true);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    V.setStatus(status, "Guardando y consultando a Meta…");
    try {
      fill(await V.api("PUT", url, body()));
      V.setStatus(status, "Número guardado. La conexión con Meta se reinicia; el estado aparece arriba.");
    } catch (error) {
      V.markFields(form, error);
      V.setStatus(status, explain(error), true);
    } finally {
      button.disabled = false;
    }
  });

  (async () => {
    try {
      fill(await V.api("GET", url));
    } catch (error) {
      if (error.status !== 404) V.setStatus(status, error.message, true);
      // 404: no number yet, the form starts empty and the secrets are required
    }
  })();
})();

// Switching a branch between WhatsApp Web and the official Cloud API (admins), after a confirmation.
(() => {
  const button = document.getElementById("transport-switch");
  if (!button) return;
  const section = document.getElementById("whatsapp");
  const status = document.getElementById("transport-status");
  button.addEventListener("click", async () => {
    if (!window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    V.setStatus(status, "Cambiando…");
    try {
      await V.api("PATCH", `/api/service-points/${section.dataset.point}`, { transport: button.dataset.transport });
      const done = button.dataset.transport === "cloud"
        ? "La sucursal usa ahora la API oficial de WhatsApp (Cloud API)."
        : "La sucursal usa ahora WhatsApp Web.";
      sessionStorage.setItem("ventanilla-flash", done);
      location.reload();
    } catch (error) {
      V.setStatus(status, error.message, true);
      button.disabled = false;
    }
  });
})();
