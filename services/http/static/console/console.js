// The advisor's console: search as you type, the live person page, and the advisor's actions,
// each through the same JSON API a program calls (signed in by the session cookie; changes carry
// the console's header). No build step, no library.
"use strict";

const CONSOLE = { "X-Crossview-Console": "1" };
const RULES = {
  NotAPermutationError: "The new order must list each active function once. Reload the page and try again.",
  ContactPointTakenError: "That number or email belongs to another person: join the two people instead.",
  JoinError: "These two people cannot be joined (one of them is already joined into someone).",
  Unauthenticated: "Your session has ended: sign in again.",
  Forbidden: "Your role does not allow this.",
};

function $(selector, root = document) { return root.querySelector(selector); }
function $$(selector, root = document) { return Array.from(root.querySelectorAll(selector)); }

function say(text) {
  const announcer = $("#announcer");
  if (announcer) { announcer.textContent = ""; setTimeout(() => { announcer.textContent = text; }, 50); }
}

function toast(text) {
  const note = document.createElement("div");
  note.className = "toast"; note.setAttribute("role", "status"); note.textContent = text;
  document.body.appendChild(note);
  setTimeout(() => note.remove(), 3000);
}

function showProblem(problem) {
  const box = $("#problem");
  const fields = (problem.errors || []).map((e) => `${e.field.replace(/^body\./, "")}: ${e.message}`).join("; ");
  const advice = RULES[problem.title] || "";
  box.innerHTML = "";
  const title = document.createElement("strong");
  title.textContent = `${problem.title || "Something went wrong"}`;
  const detail = document.createElement("span");
  detail.textContent = [advice, problem.detail, fields].filter(Boolean).join(" — ");
  box.append(title, detail);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function clearProblem() { const box = $("#problem"); if (box) box.hidden = true; }

async function api(method, url, body) {
  clearProblem();
  let answer;
  try {
    answer = await fetch(url, {
      method, credentials: "same-origin",
      headers: { ...CONSOLE, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    showProblem({ title: "Crossview did not answer", detail: "Check your connection and try again." });
    throw error;
  }
  const text = await answer.text();
  const data = text ? JSON.parse(text) : {};
  if (!answer.ok) {
    if (answer.status === 401) { location.href = `/sign-in?next=${encodeURIComponent(location.pathname)}`; }
    showProblem(data);
    throw new Error(data.title || answer.status);
  }
  return data;
}

// --- sign in / out ---------------------------------------------------------------------------
function signIn() {
  const form = $("#sign-in");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const session = await api("POST", "/v1/console/session", { token: $("#token").value.trim() });
      const next = form.dataset.next && form.dataset.next !== "/" ? form.dataset.next : session.home;
      location.href = next || "/";
    });
  }
  const demo = $("[data-action=demo-sign-in]");
  if (demo) {
    demo.addEventListener("click", async () => {
      await api("POST", "/v1/console/demo-session");
      location.href = demo.dataset.next || "/";
    });
  }
  const out = $("[data-action=sign-out]");
  if (out) { out.addEventListener("click", async () => { await api("DELETE", "/v1/console/session"); location.href = "/sign-in"; }); }
}

// --- search as you type ----------------------------------------------------------------------
function searchAsYouType() {
  $$("[data-search-target]").forEach((input) => {
    let timer, asked = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const ask = ++asked;
        const params = new URLSearchParams({ q: input.value });
        if (input.dataset.joinInto) params.set("join_into", input.dataset.joinInto);
        const answer = await fetch(`/console/search?${params}`, { credentials: "same-origin" });
        if (ask !== asked || !answer.ok) return; // a later keystroke won
        $(`#${input.dataset.searchTarget}`).innerHTML = await answer.text();
        if (!input.dataset.joinInto) history.replaceState(null, "", input.value ? `/?q=${encodeURIComponent(input.value)}` : "/");
      }, 150);
    });
  });
}

// --- the person page -------------------------------------------------------------------------
function personPage() {
  const page = $(".person");
  if (!page) return;
  const personId = page.dataset.person;

  async function refresh(minPosition) {
    const url = new URL(location.href);
    if (minPosition) { url.searchParams.set("min_position", minPosition); url.searchParams.set("wait_ms", "5000"); }
    const answer = await fetch(url, { credentials: "same-origin" });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    const known = new Set($$("#timeline [data-event]").map((li) => li.dataset.event));
    $$("[data-live]").forEach((part) => {
      const replacement = fresh.getElementById(part.id);
      if (replacement) part.replaceWith(replacement);
    });
    $$("#timeline [data-event]").forEach((li) => { if (!known.has(li.dataset.event)) li.classList.add("fresh"); });
    wireFunctions();
  }

  // Live: the person's stream, from the position this page was read at.
  if (window.EventSource) {
    const after = page.dataset.streamAfter;
    const stream = new EventSource(`/v1/persons/${personId}/stream${after ? `?after=${encodeURIComponent(after)}` : ""}`);
    let pending = null;
    stream.addEventListener("ready", () => page.classList.add("live"));
    stream.addEventListener("change", (event) => {
      const change = JSON.parse(event.data);
      clearTimeout(pending);
      pending = setTimeout(() => refresh(), 60); // a burst of changes is one refresh
      if (change.channel) say(`New ${change.channel} ${change.status || ""}`);
    });
    stream.onerror = () => page.classList.remove("live");
    window.addEventListener("beforeunload", () => stream.close());
  }

  // Priority: drag and drop, or the arrows (keyboard).
  function currentOrder() { return $$("#functions [data-function-id]").map((li) => li.dataset.functionId); }
  async function saveOrder(before) {
    const order = currentOrder();
    if (order.join() === before.join()) return;
    try {
      const answer = await api("PUT", `/v1/persons/${personId}/functions/order`, { function_ids: order });
      toast("Priority saved");
      await refresh(answer.positions[answer.positions.length - 1]);
    } catch (error) { await refresh(); }
  }
  function wireFunctions() {
    const list = $("#functions");
    if (!list || list.dataset.wired) return;
    list.dataset.wired = "1";
    let dragged = null, before = null;
    list.addEventListener("dragstart", (event) => {
      dragged = event.target.closest("[data-function-id]");
      before = currentOrder();
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.functionId);
    });
    list.addEventListener("dragover", (event) => {
      event.preventDefault();
      const over = event.target.closest("[data-function-id]");
      if (!over || over === dragged) return;
      const box = over.getBoundingClientRect();
      list.insertBefore(dragged, event.clientY < box.top + box.height / 2 ? over : over.nextSibling);
    });
    list.addEventListener("drop", (event) => { event.preventDefault(); });
    list.addEventListener("dragend", () => { dragged.classList.remove("dragging"); saveOrder(before); });
    list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action^=move-]");
      if (!button) return;
      const item = button.closest("[data-function-id]");
      const order = currentOrder();
      if (button.dataset.action === "move-up" && item.previousElementSibling) list.insertBefore(item, item.previousElementSibling);
      if (button.dataset.action === "move-down" && item.nextElementSibling) list.insertBefore(item.nextElementSibling, item);
      saveOrder(order).then(() => {
        const again = $(`#functions [data-function-id="${item.dataset.functionId}"] [data-action=${button.dataset.action}]`);
        if (again && !again.disabled) again.focus();
      });
    });
  }
  wireFunctions();

  // The advisor's own records.
  $("#note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { text: form.text.value };
    if (form.outcome.value) body.outcome = form.outcome.value;
    if (form.function_id.value) body.function_id = form.function_id.value;
    if (form.journey && form.journey.value) body.journey = { journey_id: form.journey.value, state: form.journey_state.value };
    const answer = await api("POST", `/v1/persons/${personId}/notes`, body);
    form.reset(); toast("Note saved");
    await refresh(answer.positions[0]);
  });
  const consent = $("#consent-form");
  consent.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [channel, address] = consent.point.value.split("|");
    const answer = await api("PUT", `/v1/persons/${personId}/consent`, {
      channel, address, reachable: consent.reachable.value === "true", reason: consent.reason.value,
    });
    toast("Consent recorded");
    await refresh(answer.positions[0]);
  });
  document.addEventListener("click", async (event) => {
    const join = event.target.closest("[data-action=join]");
    if (join) {
      if (!confirm(`Join ${join.dataset.name.trim() || "this person"} into this person? You can undo it.`)) return;
      const answer = await api("POST", `/v1/persons/${personId}/joins`, { absorbed_id: join.dataset.absorbed });
      toast("Joined"); $("#join-results").innerHTML = ""; $("#join-q").value = "";
      await refresh(answer.positions[answer.positions.length - 1]);
    }
    const offer = event.target.closest("[data-action=offer-answer]");
    if (offer) {
      const code = encodeURIComponent(offer.dataset.code);
      const answer = await api("POST", `/v1/persons/${personId}/offers/${code}/${offer.dataset.answer}`, { channel: "call" });
      toast(offer.dataset.answer === "accept" ? "Offer accepted" : "Offer declined");
      await refresh(answer.positions[answer.positions.length - 1]);
    }
    const separate = event.target.closest("[data-action=separate]");
    if (separate) {
      const answer = await api("DELETE", `/v1/persons/${personId}/joins/${separate.dataset.absorbed}`);
      toast("Join undone");
      await refresh(answer.positions[answer.positions.length - 1]);
    }
  });
  $$("[data-autosubmit]").forEach((select) => select.addEventListener("change", () => {
    const params = new URLSearchParams();
    $$("select", select.form).forEach((s) => { if (s.value) params.set(s.name, s.value); });
    location.search = params.toString();
  }));
}

window.crossviewApi = api; // for the browser tests, and a curious advisor's console

document.addEventListener("DOMContentLoaded", () => { signIn(); searchAsYouType(); personPage(); });
