// citewise web app: shared helpers, the streamed answer (SSE over fetch, so the API key can be sent) with a stop
// button, citations, feedback. The other scripts: viewer.js (citation viewer), conversations.js (sidebar),
// library.js (upload, documents), session.js (sign-in; it starts the app).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { answerId: null, citations: [], abort: null, rating: null };
const KEY_SLOT = "citewise.key";

function apiKey() { return sessionStorage.getItem(KEY_SLOT) || ""; }

function headers(json = true) {
  const h = json ? { "Content-Type": "application/json" } : {};
  const key = apiKey();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

// fetch with the key; a 401 while signed in means the key stopped working: back to the sign-in form
async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { ...headers(options.body !== undefined && !(options.body instanceof FormData)), ...(options.headers || {}) } });
  if (r.status === 401 && typeof Session !== "undefined") Session.expired(await errorText(r.clone()));
  return r;
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

// -- search hits ----------------------------------------------------------------------------------
async function runSearch(question) {
  const r = await api("/v1/search", { method: "POST", body: JSON.stringify({ query: question, k: 8 }) });
  if (!r.ok) { setStatus("Search failed: " + (await errorText(r)), true); return; }
  const result = await r.json();
  const list = $("hits");
  list.replaceChildren();
  for (const hit of result.hits) {
    const item = el("li", { class: "hit" });
    const link = el("a", { href: "#", class: "hit-link" }, hit.title || hit.source);
    link.addEventListener("click", (e) => {
      e.preventDefault();
      Viewer.open({ doc_id: hit.doc_id, source: hit.source, title: hit.title, page: hit.page_start,
                    char_start: hit.char_start, char_end: hit.char_end, quote: hit.text, ocr: hit.ocr });
    });
    item.append(link, el("span", { class: "meta" }, ` ${hit.source}${pageLabel(hit.page_start)} · score ${hit.score.toFixed(3)}`),
                el("span", { class: "snippet" }, hit.text.slice(0, 280) + (hit.text.length > 280 ? "…" : "")));
    list.append(item);
  }
  $("hits-section").hidden = false;
  if (!result.hits.length) list.append(el("li", {}, "No passages found."));
}

// -- the answer -----------------------------------------------------------------------------------
function citationLink(c) {
  const a = el("a", { href: "#", class: "cite", "data-n": String(c.n), title: `Open the source: ${c.source}${pageLabel(c.page)}`,
                      "aria-label": `Source ${c.n}: ${c.title || c.source}${pageLabel(c.page)}` }, `[${c.n}]`);
  a.addEventListener("click", (e) => { e.preventDefault(); Viewer.open(c); });
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

function sentenceNode(s, byN) {
  const span = el("span", { class: s.supported ? "sentence" : "sentence unsupported" });
  span.append(document.createTextNode(s.text.replace(/\s*\[\d+\]/g, "")));
  for (const n of s.citations || []) if (byN.has(n)) span.append(citationLink(byN.get(n)));
  if (!s.supported) span.append(el("span", { class: "badge", title: "The cited passages do not support this sentence" }, "unsupported"));
  return span;
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
    box.append(sentenceNode(s, byN));
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
  $("answer-legend").hidden = !all.some((s) => !s.supported);
  renderCitations(answer.citations || []);
}

function showFeedback(answerId) {
  state.answerId = answerId || null;
  state.rating = null;
  $("feedback").hidden = !state.answerId;
  $("feedback-form").hidden = true;
  $("feedback-correction").value = "";
  $("feedback-status").textContent = "";
  for (const b of document.querySelectorAll(".thumb")) b.setAttribute("aria-pressed", "false");
}

function clearAnswer() {
  $("answer-section").hidden = false;
  $("answer").textContent = "";
  $("asked-as").hidden = true;
  $("answer-legend").hidden = true;
  $("citations").replaceChildren();
  showFeedback(null);
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

function onEvent(event, payload, streamed, searches) {
  if (event === "rewrite") {
    $("asked-as").textContent = `Asked as: ${payload.rewritten_question}`;
    $("asked-as").hidden = payload.rewritten_question === payload.question;
    searches.push(runSearch(payload.rewritten_question));
  } else if (event === "token") { streamed.text += payload.text; $("answer").textContent = streamed.text; }
  else if (event === "citations") renderCitations(payload.citations || []);
  else if (event === "done") {
    const answer = payload.answer;  // the stored message: {conversation_id, turn, question, rewritten_question, answer}
    renderAnswer(answer);
    showFeedback(answer.answer_id);
    $("answer-section").dataset.answerId = answer.answer_id || "";
    Conversations.answered(payload);
  } else if (event === "error") {
    $("answer").textContent = `No answer: ${payload.message} (${payload.code}, request ${payload.request_id})`;
  }
}

async function runAsk(question, signal) {
  // Asked in the current conversation (conversations.js): a follow-up is rewritten by the server first.
  clearAnswer();
  const searches = [];
  const r = await Conversations.send(question, signal);
  if (!r.ok) { $("answer").textContent = "No answer: " + (await errorText(r)); return; }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  const streamed = { text: "" };
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    for (const [event, data, rest] of parseSSE(buffer)) {
      buffer = rest;
      if (event === null) break;
      onEvent(event, data ? JSON.parse(data) : {}, streamed, searches);
    }
  }
  await Promise.all(searches);
}

function stopAsking() { if (state.abort) state.abort.abort(); }

// -- feedback: a thumb, then an optional correction ---------------------------------------------------
function chooseRating(rating) {
  if (!state.answerId) return;
  state.rating = rating;
  for (const b of document.querySelectorAll(".thumb")) b.setAttribute("aria-pressed", String(b.dataset.rating === rating));
  $("feedback-form").hidden = false;
  $("feedback-status").textContent = "";
  $("feedback-correction").focus();
}

async function sendFeedback(e) {
  e.preventDefault();
  if (!state.answerId || !state.rating) return;
  const correction = $("feedback-correction").value.trim();
  const body = { answer_id: state.answerId, rating: state.rating, ...(correction ? { correction } : {}) };
  const r = await api("/v1/feedback", { method: "POST", body: JSON.stringify(body) });
  if (r.ok) $("feedback-form").hidden = true;
  $("feedback-status").textContent = r.ok ? "Thanks for the feedback." : "Could not send feedback: " + (await errorText(r));
}
$("thumb-up").addEventListener("click", () => chooseRating("up"));
$("thumb-down").addEventListener("click", () => chooseRating("down"));
$("feedback-form").addEventListener("submit", sendFeedback);
$("stop-button").addEventListener("click", stopAsking);

$("ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const question = $("question").value.trim();
  if (!question || state.abort) return;
  const controller = new AbortController();
  state.abort = controller;
  $("ask-button").disabled = true;
  $("stop-button").hidden = false;
  setStatus("Searching…");
  try {
    await runAsk(question, controller.signal);  // the passages are searched for the (rewritten) question once known
    if (!$("status").classList.contains("error")) setStatus("");
    if ($("question").value.trim() === question) $("question").value = "";
  } catch (err) {
    if (controller.signal.aborted) {
      setStatus("Stopped. The partial answer was not checked or saved.");
      $("answer").classList.add("stopped");
    } else setStatus("Something went wrong: " + err, true);
  } finally {
    state.abort = null;
    $("ask-button").disabled = false;
    $("stop-button").hidden = true;
    $("question").focus();
  }
});
