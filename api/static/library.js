// citewise web app: the document library. Upload several files at once (XHR, for its upload progress), then
// follow the ingest job (GET /v1/jobs/{id}) with its per-file failures; list, filter and delete documents.
"use strict";

const POLL_MS = 500;

const Library = {
  documents: [],
  me: null,

  setup(me) {
    // What the key may do: readers only read; a writer gives only its own ACL groups, an admin any.
    this.me = me;
    const writer = me.role !== "reader";
    $("upload-form").hidden = !writer;
    $("upload-denied").hidden = writer;
    const choices = $("upload-acl-choices");
    choices.replaceChildren();
    if (me.groups === null) {
      choices.append(el("label", { for: "upload-acl-any" }, "Groups (comma-separated; empty: the whole tenant)"),
                     el("input", { id: "upload-acl-any", type: "text", maxlength: "2000", placeholder: "hr, legal" }));
      $("upload-acl-note").textContent = "";
    } else {
      for (const g of me.groups) {
        const id = `upload-acl-${g}`;
        const box = el("input", { type: "checkbox", id, value: g, class: "acl-group" });
        const choice = el("span", { class: "choice" });
        choice.append(box, el("label", { for: id }, g));
        choices.append(choice);
      }
      $("upload-acl-note").textContent = me.groups.length
        ? "None ticked: the whole tenant can read them. Your key may only give its own groups."
        : "Your key has no ACL groups: uploads are readable by the whole tenant.";
    }
  },

  reset() {
    this.documents = [];
    $("documents").replaceChildren();
    $("uploads").replaceChildren();
    $("documents-count").textContent = "";
    $("upload-form").reset();
  },

  selectedGroups() {
    const any = $("upload-acl-any");
    if (any) return any.value.split(",").map((g) => g.trim()).filter(Boolean);
    return [...document.querySelectorAll(".acl-group:checked")].map((b) => b.value);
  },

  upload(e) {
    e.preventDefault();
    const files = [...$("upload-files").files];
    if (!files.length) return;
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    for (const t of $("upload-tags").value.split(",").map((t) => t.trim()).filter(Boolean)) form.append("tags", t);
    for (const g of this.selectedGroups()) form.append("acl", g);
    const total = files.reduce((n, f) => n + f.size, 0);
    const item = el("li", { class: "upload" });
    const title = el("strong", {}, files.length === 1 ? files[0].name : `${files.length} files`);
    const bar = el("progress", { max: "1", value: "0", "aria-label": "Upload progress" });
    const line = el("span", { class: "upload-state", role: "status" }, "Uploading…");
    const failures = el("ul", { class: "failures" });
    item.append(title, bar, line, failures);
    $("uploads").prepend(item);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/ingest");
    const key = apiKey();
    if (key) xhr.setRequestHeader("Authorization", "Bearer " + key);
    xhr.upload.addEventListener("progress", (ev) => {
      const sent = ev.lengthComputable ? ev.loaded / ev.total : 0;
      bar.value = sent;
      item.dataset.sent = sent.toFixed(2);
      line.textContent = `Uploading: ${Math.round(sent * 100)}% of ${(total / 1e6).toFixed(2)} MB`;
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { /* not JSON */ }
      if (xhr.status !== 202) {
        item.classList.add("failed");
        line.textContent = "Upload refused: " + (body && body.error ? body.error.message : `HTTP ${xhr.status}`);
        if (xhr.status === 401) Session.expired(line.textContent);
        return;
      }
      bar.value = 0;
      item.dataset.job = body.job_id;
      line.textContent = "Uploaded; waiting for the ingest job…";
      this.follow(body.job_id, bar, line, failures, item);
    });
    xhr.addEventListener("error", () => { item.classList.add("failed"); line.textContent = "Upload failed: the server could not be reached."; });
    xhr.send(form);
    $("upload-form").reset();
  },

  async follow(jobId, bar, line, failures, item) {
    const cancel = el("button", { type: "button", class: "cancel" }, "Cancel job");
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      const r = await api(`/v1/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
      if (!r.ok && r.status !== 409) line.textContent = "Could not cancel: " + (await errorText(r));
    });
    item.append(cancel);
    for (;;) {
      const r = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
      if (!r.ok) { line.textContent = "Job status unavailable: " + (await errorText(r)); item.classList.add("failed"); cancel.remove(); return; }
      const job = await r.json();
      const p = job.progress;
      bar.value = p.fraction;
      line.textContent = `Job ${job.state}: ${p.files_done} of ${p.files_total} file(s) done, ${p.files_failed} failed, ${p.chunks_written} chunks`;
      failures.replaceChildren(...job.failures.map((f) => el("li", {}, `${f.file}: ${f.reason}`)));
      if (["done", "failed", "cancelled"].includes(job.state)) {
        item.dataset.state = job.state;
        cancel.remove();
        if (job.error) failures.append(el("li", {}, job.error));
        if (job.state !== "done" || job.failures.length) item.classList.add("failed");
        this.refresh();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  },

  async refresh() {
    const r = await api("/v1/documents?limit=500");
    if (!r.ok) { $("documents-count").textContent = "Documents are unavailable: " + (await errorText(r)); return; }
    const page = await r.json();
    this.documents = page.documents;
    this.total = page.total;
    this.render();
  },

  render() {
    const words = $("documents-filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const text = (d) => [d.source, d.title, d.file_type, ...Object.entries(d.tags).map(([k, v]) => `${k}=${v}`)].join(" ").toLowerCase();
    const shown = this.documents.filter((d) => words.every((w) => text(d).includes(w)));
    const list = $("documents");
    list.replaceChildren();
    const writer = this.me && this.me.role !== "reader";
    for (const d of shown) {
      const item = el("li", { class: "document", "data-id": d.doc_id });
      const name = el("div", { class: "doc-name" });
      name.append(el("strong", {}, d.title || d.source), el("span", { class: "meta" }, ` ${d.source}`));
      const facts = el("div", { class: "meta" }, `${d.file_type} · ${d.chunks} chunks · ${(d.size_bytes / 1e3).toFixed(1)} kB${d.complete ? "" : " · being indexed"}`);
      const tags = el("div", { class: "tags" });
      for (const [k, v] of Object.entries(d.tags)) tags.append(el("span", { class: "tag" }, `${k}=${v}`));
      item.append(name, facts, tags);
      if (writer) {
        const retag = el("button", { type: "button", class: "retag", "aria-label": `Edit the tags of ${d.source}` }, "Edit tags");
        retag.addEventListener("click", () => this.retag(d, retag));
        const del = el("button", { type: "button", class: "delete", "aria-label": `Delete ${d.source}` }, "Delete");
        del.addEventListener("click", () => this.remove(d, del));
        const actions = el("div", { class: "actions" });
        actions.append(retag, del);
        item.append(actions);
      }
      list.append(item);
    }
    const more = this.total > this.documents.length ? ` (the first ${this.documents.length} are listed)` : "";
    $("documents-count").textContent = words.length
      ? `${shown.length} of ${this.total} document(s) match${more}`
      : `${this.total} document(s)${more}`;
  },

  async retag(d, button) {
    const now = Object.entries(d.tags).map(([k, v]) => `${k}=${v}`).join(", ");
    const typed = window.prompt(`Tags of ${d.source}: key=value, comma-separated (empty: none)`, now);
    if (typed === null) return;
    button.disabled = true;
    const tags = typed.split(",").map((t) => t.trim()).filter(Boolean);
    const r = await api(`/v1/documents/${encodeURIComponent(d.doc_id)}`, {
      method: "PATCH",
      body: JSON.stringify({ tags }),
    });
    button.disabled = false;
    if (!r.ok) { $("documents-count").textContent = "Could not change the tags: " + (await errorText(r)); return; }
    await this.refresh();
    $("documents-count").textContent += `; tags of ${d.source} changed`;
  },

  async remove(d, button) {
    if (!window.confirm(`Delete ${d.source}? Its passages leave the index.`)) return;
    button.disabled = true;
    const r = await api(`/v1/documents/${encodeURIComponent(d.doc_id)}`, { method: "DELETE" });
    if (!r.ok && r.status !== 404) {
      button.disabled = false;
      $("documents-count").textContent = "Could not delete: " + (await errorText(r));
      return;
    }
    await this.refresh();
    $("documents-count").textContent += `; deleted ${d.source}`;
  },
};

$("upload-form").addEventListener("submit", (e) => Library.upload(e));
$("documents-filter").addEventListener("input", () => Library.render());
