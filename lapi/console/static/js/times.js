// Time helpers, pure: the API speaks ISO 8601 with microseconds; the page's inputs are local times.

// "2026-11-23T10:00:00.123456+00:00" -> microseconds since the epoch (a BigInt: doubles lose them).
export function isoToMicros(iso) {
  const m = /\.(\d{1,6})/.exec(iso);
  const fraction = m ? BigInt(m[1].padEnd(6, "0")) : 0n;
  const wholeSeconds = Date.parse(iso.replace(/\.\d+/, "")) / 1000;
  return BigInt(wholeSeconds) * 1000000n + fraction;
}

export function microsToIso(us) {
  const seconds = us / 1000000n, fraction = us % 1000000n;
  const base = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d+Z$/, "");
  return `${base}.${fraction.toString().padStart(6, "0")}Z`;
}

// The next page of a newest-first listing whose window end is exclusive (to=): just after the oldest
// time shown, so reads sharing that exact time are not skipped; the caller drops the ids it already has.
export function nextPageEnd(rows, timeKey = "read_at") {
  if (!rows.length) return null;
  return microsToIso(isoToMicros(rows[rows.length - 1][timeKey]) + 1n);
}

// <input type=datetime-local> value (local time) <-> ISO 8601 UTC
export function localInputToIso(value) { return new Date(value).toISOString(); }
export function isoToLocalInput(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function shortTime(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
                                       minute: "2-digit", second: "2-digit" });
}
