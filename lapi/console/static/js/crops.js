// Plate crops: an <img> cannot send the token, so each crop is fetched with it and shown from a blob URL,
// only when its row scrolls into view (each fetch is a consultation in the audit log, as any other).
import { api } from "./api.js";

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    load(entry.target);
  }
});

async function load(img) {
  try {
    const blob = await api.blob(`/v1/reads/${img.dataset.readId}/crop`, { procedure: img.dataset.procedure });
    img.src = URL.createObjectURL(blob);
  } catch (err) {
    img.replaceWith(document.createTextNode(err.status === 404 ? "no crop" : "crop unavailable"));
  }
}

export function cropImage(readId, plate, procedure) {
  const img = document.createElement("img");
  img.alt = `crop of read ${readId} (${plate})`;
  img.dataset.readId = readId;
  if (procedure) img.dataset.procedure = procedure;
  observer.observe(img);
  return img;
}
