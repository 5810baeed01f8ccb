// citewise web page: search + streamed answer (SSE over fetch, so the API key can be sent), citations, feedback;
// questions are asked in a conversation (conversations.js), so follow-ups work.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { answerId: null, citations: [] };

$("api-key").value = localStorage.getItem("citewise.key") || "";
$("api-key").addEventListener("change", (e) => localStorage.setItem("citewise.key", e.target.value.trim()));

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body.error) return `${body.error.message} (${body.error.code}, request ${body.error.request_id})`;
  } catch (e) { /* not JSON */ }
  return `HTTP ${response.status}`;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function pageLabel(page) { return page === null || page === undefined ? "" : `, page ${page}`; }

// -- the passage viewer ---------------------------------------------------------------------------
async function openPassage(p) {
  // p: {doc_id, source, title, page, char_start, char_end, quote, ocr}
  $("passage-title").textContent = p.title || p.source;
  $("passage-meta").textContent = `${p.source}${pageLabel(p.page)} · characters ${p.char_start}–${p.char_end}` +
    (p.ocr ? " · text recognised by OCR" : "");
  const box = $("passage-context");
  box.replaceChildren(el("mark", { class: "quote" }, p.quote));
  $("passage").showModal();
  try {
    const r = await fetch(`/v1/documents/${encodeURIComponent(p.doc_id)}?text=true`, { headers: headers() });
    if (!r.ok) return;
    const doc = await r.json();
    const text = doc.text || "";
    if (text.slice(p.char_start, p.char_end) !== p.quote) return;  // keep the quote alone if the text changed
    const from = Math.max(0, p.char_start - 400), to = Math.min(text.length, p.char_end + 400);
    box.replaceChildren(
      document.createTextNode((from > 0 ? "…" : "") + text.slice(from, p.char_start)),
      el("mark", { class: "quote" }, p.quote),
      document.createTextNode(text.slice(p.char_end, to) + (to < text.length ? "…" : "")),
    );
    box.querySelector("mark").scrollIntoView({ block: "center" });
  } catch (e) { /* the quote alone is still shown */ }
}

// -- search hits ----------------------------------------------------------------------------------
async function runSearch(question) {
  const r = await fetch("/v1/search", { method: "POST", headers: headers(), body: JSON.stringify({ query: question, k: 8 }) });
  if (!r.ok) { setStatus("Search failed: " + (await errorText(r)), true); return; }
  const result = await r.json();
  const list = $("hits");
  list.replaceChildren();
  for (const hit of result.hits) {
    const item = el("li", { class: "hit" });
    const link = el("a", { href: "#", class: "hit-link" }, hit.title || hit.source);
    link.addEventListener("click", (e) => {
      e.preventDefault();
      openPassage({ doc_id: hit.doc_id, source: hit.source, title: hit.title, page: hit.page_start,
                    char_start: hit.char_start, char_end: hit.char_end, quote: hit.text, ocr: hit.ocr });
    });
    item.append(link, el("span", { class: "meta" }, ` ${hit.source}${pageLabel(hit.page_start)} · score ${hit.score.toFixed(3)}`),
                el("span", { class: "snippet" }, hit.text.slice(0, 280) + (hit.text.length > 280 ? "…" : "")));
    list.append(item);
  }
  $("hits-section").hidden = false;
  if (!result.hits.length) list.append(el("li", {}, "No passages found."));
}

// -- the answer (SSE) -----------------------------------------------------------------------------
function citationLink(c) {
  const a = el("a", { href: "#", class: "cite", "data-n": String(c.n), title: `${c.source}${pageLabel(c.page)}` }, `[${c.n}]`);
  a.addEventListener("click", (e) => { e.preventDefault(); openPassage(c); });
  return a;
}

function renderCitations(citations) {
  state.citations = citations;
  const list = $("citations");
  list.replaceChildren();
  for (const c of citations) {
    const item = el("li", { class: "citation", value: String(c.n) });
    item.append(citationLink(c), el("span", { class: "meta" }, ` ${c.title || c.source}${pageLabel(c.page)}${c.ocr ? " (OCR)" : ""}`));
    list.append(item);
  }
}

function renderAnswer(answer) {
  // Sentences with their citation markers as links; unsupported sentences are marked.
  const box = $("answer");
  box.replaceChildren();
  const byN = new Map((answer.citations || []).map((c) => [c.n, c]));
  // Removed sentences (shown: false) stay out of the answer; a toggle lists them on demand.
  const all = answer.sentences && answer.sentences.length ? answer.sentences : [{ text: answer.answer, supported: true, citations: [] }];
  const sentences = all.filter((s) => s.shown !== false);
  sentences.forEach((s, i) => {
    const span = el("span", { class: s.supported ? "sentence" : "sentence unsupported" });
    span.append(document.createTextNode(s.text.replace(/\s*\[\d+\]/g, "")));
    for (const n of s.citations || []) if (byN.has(n)) span.append(citationLink(byN.get(n)));
    box.append(span);
    if (i < sentences.length - 1) box.append(document.createTextNode(" "));
  });
  const removed = all.filter((s) => s.shown === false);
  if (answer.fallback_from) box.append(el("div", { class: "meta" }, `Quoted from the documents: the answer of ${answer.fallback_from} had no supported sentence that answers the question.`));
  if (removed.length) {
    const details = el("details", { class: "removed" });
    details.append(el("summary", {}, `${removed.length} removed sentence(s)`));
    for (const s of removed) details.append(el("div", { class: "sentence unsupported" }, `${s.text} (${(s.reason || "").replace("_", " ")})`));
    box.append(details);
  }
  renderCitations(answer.citations || []);
}

function* parseSSE(buffer) {
  // Yields [event, data, rest]: complete events from the buffer (events end with a blank line).
  let idx;
  while ((idx = buffer.search(/\r?\n\r?\n/)) >= 0) {
    const block = buffer.slice(0, idx);
    buffer = buffer.slice(idx).replace(/^\r?\n\r?\n/, "");
    let event = "message", data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    yield [event, data.join("\n"), buffer];
  }
  yield [null, null, buffer];
}

async function runAsk(question) {
  // Asked in the current conversation (conversations.js): a follow-up is rewritten by the server first.
  $("answer-section").hidden = false;
  $("answer").textContent = "";
  $("asked-as").hidden = true;
  $("citations").replaceChildren();
  $("feedback").hidden = true;
  $("feedback-status").textContent = "";
  state.answerId = null;
  const searches = [];
  const r = await Conversations.send(question);
  if (!r.ok) { $("answer").textContent = "No answer: " + (await errorText(r)); return; }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", streamed = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    for (const [event, data, rest] of parseSSE(buffer)) {
      buffer = rest;
      if (event === null) break;
      const payload = data ? JSON.parse(data) : {};
      if (event === "rewrite") {
        $("asked-as").textContent = `Asked as: ${payload.rewritten_question}`;
        $("asked-as").hidden = payload.rewritten_question === payload.question;
        searches.push(runSearch(payload.rewritten_question));
      } else if (event === "token") { streamed += payload.text; $("answer").textContent = streamed; }
      else if (event === "citations") renderCitations(payload.citations || []);
      else if (event === "done") {
        const answer = payload.answer;  // the stored message: {conversation_id, turn, question, rewritten_question, answer}
        renderAnswer(answer);
        state.answerId = answer.answer_id;
        $("feedback").hidden = !state.answerId;
        $("answer-section").dataset.answerId = answer.answer_id || "";
        Conversations.answered(payload);
      } else if (event === "error") {
        $("answer").textContent = `No answer: ${payload.message} (${payload.code}, request ${payload.request_id})`;
      }
    }
  }
  await Promise.all(searches);
}

async function sendFeedback(rating) {
  if (!state.answerId) return;
  const r = await fetch("/v1/feedback", { method: "POST", headers: headers(), body: JSON.stringify({ answer_id: state.answerId, rating }) });
  $("feedback-status").textContent = r.ok ? "Thanks for the feedback." : "Could not send feedback: " + (await errorText(r));
}
$("thumb-up").addEventListener("click", () => sendFeedback("up"));
$("thumb-down").addEventListener("click", () => sendFeedback("down"));

$("ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("ask-button").disabled = true;
  setStatus("Searching…");
  try {
    await runAsk(question);  // the passages are searched for the (rewritten) question once it is known
    if (!$("status").classList.contains("error")) setStatus("");
  } catch (err) {
    setStatus("Something went wrong: " + err, true);
  } finally {
    $("ask-button").disabled = false;
  }
});
