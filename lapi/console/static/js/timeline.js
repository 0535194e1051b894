// A vehicle's reads, newest first, a page at a time (10,000 reads of one plate must not be fetched at once).
import { api } from "./api.js";
import { cropImage } from "./crops.js";
import { nextPageEnd, shortTime } from "./times.js";

export const PAGE = 50;

export class Timeline {
  constructor(tbody, cameras) {
    this.tbody = tbody;
    this.cameras = cameras;
  }

  // query: {plate, from, to, procedure}
  async start(query) {
    this.query = query;
    this.rows = [];
    this.ids = new Set();
    this.end = query.to;
    this.done = false;
    this.tbody.replaceChildren();
    return this.more();
  }

  async more() {
    const { plate, from, procedure } = this.query;
    const oldest = this.rows.at(-1)?.read_at;  // rows at that time come again (the end is just after it)
    const again = oldest ? this.rows.filter((r) => r.read_at === oldest).length : 0;
    const page = await api.get(`/v1/vehicles/${encodeURIComponent(plate)}/sightings`,
      { from, to: this.end, limit: PAGE + again, procedure });
    const fresh = page.sightings.filter((r) => !this.ids.has(r.id));
    for (const r of fresh) { this.ids.add(r.id); this.rows.push(r); this.tbody.appendChild(this.row(r)); }
    // a page of reads all at the boundary time: step past it (reads at one same microsecond beyond a page are rare)
    this.end = fresh.length ? nextPageEnd(page.sightings) : page.sightings.at(-1)?.read_at;
    this.done = page.sightings.length < PAGE + again;
    return { page, fresh };
  }

  row(r) {
    const tr = document.createElement("tr");
    if (r.hit) tr.className = "hit";
    const cells = [
      cropImage(r.id, r.plate_text, this.query.procedure),
      shortTime(r.read_at),
      this.cameras.get(r.camera_id) ? `${this.cameras.get(r.camera_id)} (${r.camera_id})` : r.camera_id,
      `${Math.round(r.confidence * 100)} %`,
      r.hit ? "hit" : "",
    ];
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      tr.appendChild(td);
    }
    return tr;
  }
}
