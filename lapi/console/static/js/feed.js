// The live hits feed (WebSocket /v1/alerts/ws) with confirm / reject, a reason required for either.
import { api, feedSocket } from "./api.js";
import { cropImage } from "./crops.js";
import { shortTime } from "./times.js";

export class Feed {
  constructor(list, state, openVehicle) {
    this.list = list;
    this.state = state;
    this.openVehicle = openVehicle;
    this.items = new Map();   // hit id -> <li>
    this.lastAlertId = null;
    this.retry = 1000;
    this.closed = false;
  }

  async start() {
    try {  // the hits still waiting for a decision, then everything live
      const { hits } = await api.get("/v1/hits", { status: "new", limit: 20 });
      for (const h of hits.reverse()) this.show({ ...h, hit_id: h.id, plate: h.plate_norm, list: h.list_name });
    } catch (err) {
      this.state.textContent = `could not list pending hits: ${err.message}`;
    }
    this.connect();
  }

  stop() { this.closed = true; this.ws?.close(); }

  connect() {
    if (this.closed) return;
    const ws = this.ws = feedSocket(this.lastAlertId);
    ws.onopen = () => { this.retry = 1000; this.state.textContent = "connected: new hits appear at the top"; };
    ws.onmessage = (event) => {
      const alert = JSON.parse(event.data);
      if (alert.type === "hello") { this.lastAlertId ??= alert.last_alert_id; return; }
      if (alert.alert_id != null) this.lastAlertId = alert.alert_id;
      this.show(alert);
    };
    ws.onclose = () => {
      if (this.closed) return;
      this.state.textContent = `disconnected; retrying in ${this.retry / 1000} s`;
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 30000);
    };
  }

  show(alert) {
    if (alert.type && alert.type !== "hit") return this.showOther(alert);
    if (this.items.has(alert.hit_id)) return;  // a resumed feed repeats what it already sent
    const li = document.createElement("li");
    li.className = "new";
    li.dataset.hitId = alert.hit_id;
    const title = document.createElement("button");
    title.type = "button";
    title.className = "secondary plate";
    title.textContent = alert.plate || alert.plate_norm;
    title.title = "Open this vehicle";
    title.addEventListener("click", () => this.openVehicle(alert.plate_norm));
    const info = document.createElement("div");
    info.textContent = `${shortTime(alert.read_at)} · ${alert.camera_name || alert.camera_id} · list ${alert.list}` +
      `${alert.category ? " (" + alert.category + ")" : ""} · ${alert.match_type}` +
      ((alert.confidence ?? alert.read_confidence) != null
        ? ` · ${Math.round((alert.confidence ?? alert.read_confidence) * 100)} %` : "");
    li.append(title, info, cropImage(alert.read_id, alert.plate_norm));
    const status = document.createElement("p");
    status.className = "decision";
    status.setAttribute("role", "status");
    li.append(status, this.actions(alert, li, status));
    this.items.set(alert.hit_id, li);
    this.list.prepend(li);
  }

  showOther(alert) {  // geo alerts (approach, zone entry, co-travel): shown, nothing to decide
    const li = document.createElement("li");
    li.textContent = `${alert.type}: ${alert.plate_norm ?? alert.beacon_id ?? ""} ${alert.zone ?? ""}`;
    this.list.prepend(li);
  }

  actions(alert, li, status) {
    const box = document.createElement("div");
    box.className = "actions";
    for (const [verb, label] of [["confirm", "Confirm…"], ["reject", "Reject…"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      if (verb === "reject") b.className = "secondary";
      b.setAttribute("aria-label", `${label.slice(0, -1)} hit ${alert.hit_id} (${alert.plate_norm})`);
      b.addEventListener("click", () => box.replaceWith(this.decisionForm(alert, verb, li, status, box)));
      box.appendChild(b);
    }
    return box;
  }

  decisionForm(alert, verb, li, status, actions) {
    const form = document.createElement("form");
    form.noValidate = true;  // the reason check below says what is missing, in the page
    const id = `reason-${alert.hit_id}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = `Reason to ${verb} (required)`;
    const reason = document.createElement("textarea");
    reason.id = id;
    reason.required = true;
    reason.maxLength = 2000;
    reason.rows = 2;
    const error = document.createElement("p");
    error.className = "error";
    error.setAttribute("role", "alert");
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.textContent = verb === "confirm" ? "Confirm hit" : "Reject hit";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => { form.replaceWith(actions); actions.querySelector("button").focus(); });
    reason.addEventListener("keydown", (e) => {  // Enter submits; Shift+Enter for a new line
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { error.textContent = "a reason is required (e.g. what the crop shows)"; reason.focus(); return; }
      submit.disabled = true;
      try {
        const hit = await api.post(`/v1/hits/${alert.hit_id}/${verb}`, { reason: reason.value.trim() });
        status.textContent = `${hit.status} by ${hit.decided_by}: ${reason.value.trim()}`;
        li.classList.remove("new");
        li.dataset.status = hit.status;
        form.remove();
        status.tabIndex = -1;
        status.focus();
      } catch (err) {
        error.textContent = err.message;
        submit.disabled = false;
      }
    });
    const buttons = document.createElement("div");
    buttons.className = "actions";
    buttons.append(submit, cancel);
    form.append(label, reason, error, buttons);
    queueMicrotask(() => reason.focus());
    return form;
  }
}
