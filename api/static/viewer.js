// citewise web app: the citation viewer. A PDF opens on the cited page, rendered by the server, with the quote's
// boxes (found in the PDF's own text layer) drawn over it; other documents open in their extracted text,
// scrolled to the quote, which is marked.
"use strict";

const TEXT_WINDOW = 20000;  // characters of text shown on each side of the quote in the text view

const Viewer = {
  source: null, // the citation or hit shown: {doc_id, source, title, page, char_start, char_end, quote}
  page: null,
  pages: null,
  imageUrl: null,

  async open(c) {
    this.source = c;
    $("viewer-title").textContent = c.title || c.source;
    $("viewer-meta").textContent = `${c.source}${pageLabel(c.page)} · characters ${c.char_start}–${c.char_end}` +
      (c.ocr ? " · text recognised by OCR" : "");
    $("viewer-quote").textContent = c.quote;
    $("viewer-pager").hidden = true;
    $("viewer-note").textContent = "Loading the source…";
    $("viewer-body").replaceChildren();
    if (!$("viewer").open) $("viewer").showModal();
    if (state.answerId && state.citations.includes(c)) {
      api("/v1/signals", { method: "POST", body: JSON.stringify({ answer_id: state.answerId, kind: "open_citation" }) });
    }
    const page = c.page !== null && c.page !== undefined ? await this.findPage(c.page) : null;
    const shown = page !== null && (await this.drawPage(page));
    if (!shown) await this.showText();
  },

  async locate(number) {
    // the page's size and the quote's boxes on it; null when there are no page images (not a PDF, ...)
    const c = this.source;
    const query = `char_start=${c.char_start}&char_end=${c.char_end}`;
    const r = await api(`/v1/documents/${encodeURIComponent(c.doc_id)}/pages/${number}?${query}`);
    return r.ok ? r.json() : null;
  },

  async findPage(number) {
    // A citation names the first page of its passage: the quote may sit on one of the next two.
    const first = await this.locate(number);
    if (first === null || first.match !== "none") return first;
    for (let n = number + 1; n <= Math.min(first.pages, number + 2); n++) {
      const next = await this.locate(n);
      if (next !== null && next.match !== "none") return next;
    }
    return first;
  },

  async showPage(number) {
    const page = await this.locate(number);
    if (page !== null) await this.drawPage(page);
  },

  async drawPage(page) {
    // true when the page could be shown (a PDF whose original the server keeps)
    const c = this.source;
    const shownWidth = $("viewer-body").clientWidth || 800;  // ask for the pixels the page is shown with
    const width = Math.min(2000, Math.max(400, Math.round(shownWidth * (window.devicePixelRatio || 1))));
    const image = await api(`${page.image}?width=${width}`);
    if (!image.ok) return false;
    if (this.imageUrl) URL.revokeObjectURL(this.imageUrl);
    this.imageUrl = URL.createObjectURL(await image.blob());
    this.page = page.page;
    this.pages = page.pages;
    const frame = el("div", { class: "page-frame", "data-match": page.match });
    const img = el("img", { src: this.imageUrl, alt: `Page ${page.page} of ${c.title || c.source}` });
    frame.append(img);
    for (const b of page.boxes) {
      const mark = el("div", { class: "hl" });
      mark.style.left = `${b.left * 100}%`;
      mark.style.top = `${b.top * 100}%`;
      mark.style.width = `${b.width * 100}%`;
      mark.style.height = `${b.height * 100}%`;
      frame.append(mark);
    }
    $("viewer-body").replaceChildren(frame);
    $("viewer-pager").hidden = false;
    $("viewer-page-label").textContent = `Page ${page.page} of ${page.pages}`;
    $("viewer-prev").disabled = page.page <= 1;
    $("viewer-next").disabled = page.page >= page.pages;
    $("viewer-note").textContent = {
      exact: "The quote is highlighted on the page.",
      partial: "Part of the quote is highlighted on this page (it continues on another page, or the text differs).",
      none: "The quote is not on this page.",
    }[page.match];
    await img.decode().catch(() => {});
    const first = frame.querySelector(".hl");
    if (first) first.scrollIntoView({ block: "center" });
    return true;
  },

  async showText() {
    const c = this.source;
    const r = await api(`/v1/documents/${encodeURIComponent(c.doc_id)}?text=true`);
    if (!r.ok) { $("viewer-note").textContent = "The document cannot be opened: " + (await errorText(r)); return; }
    const text = (await r.json()).text || "";
    if (text.slice(c.char_start, c.char_end) !== c.quote) {
      $("viewer-note").textContent = "The document changed since this answer; only the quote is shown.";
      return;
    }
    const from = Math.max(0, c.char_start - TEXT_WINDOW), to = Math.min(text.length, c.char_end + TEXT_WINDOW);
    const body = el("div", { class: "doc-text", tabindex: "0", "aria-label": "The document's text" });
    body.append(
      document.createTextNode((from > 0 ? "…" : "") + text.slice(from, c.char_start)),
      el("mark", { class: "quote" }, c.quote),
      document.createTextNode(text.slice(c.char_end, to) + (to < text.length ? "…" : "")),
    );
    $("viewer-body").replaceChildren(body);
    $("viewer-note").textContent = "The quote is marked in the document's extracted text.";
    body.querySelector("mark").scrollIntoView({ block: "center" });
  },
};

$("viewer-prev").addEventListener("click", () => Viewer.showPage(Viewer.page - 1));
$("viewer-next").addEventListener("click", () => Viewer.showPage(Viewer.page + 1));
