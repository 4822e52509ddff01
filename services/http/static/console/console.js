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
  RequestTransitionError: "This request has moved on since the page showed it (someone else changed it): that move is no longer possible from where it is now.",
  RequestClosedError: "This request is closed (someone may have closed it meanwhile): reopen it first to comment on it or assign it.",
  RetiredRequestKindError: "An administrator has retired this kind of request: choose another kind (reload the page for the current list).",
  UnknownRequestKindError: "This kind of request is not in the referential: reload the page for the current list.",
};

function $(selector, root = document) { return root.querySelector(selector); }
function $$(selector, root = document) { return Array.from(root.querySelectorAll(selector)); }

function say(text) {
  const announcer = $("#announcer");
  if (announcer) { announcer.textContent = ""; setTimeout(() => { announcer.textContent = text; }, 50); }
}

function toast(text) {
  $$(".toast").forEach((older) => older.remove()); // the latest says it all; never a pile
  const note = document.createElement("div");
  note.className = "toast"; note.setAttribute("role", "status"); note.textContent = text;
  document.body.appendChild(note);
  setTimeout(() => note.remove(), 3000);
}

// A problem in words: the advice for a known rule as the heading, then what the API said and the
// rule's name (what the advisor quotes to support). In `box`, next to the action, or at the top.
function showProblem(problem, box = $("#problem")) {
  const fields = (problem.errors || []).map((e) => `${e.field.replace(/^body\./, "")}: ${e.message}`).join("; ");
  const advice = RULES[problem.title] || "";
  box.innerHTML = "";
  const title = document.createElement("strong");
  title.textContent = advice || `${problem.title || "Something went wrong"}`;
  const detail = document.createElement("span");
  detail.textContent = [problem.detail, fields].filter(Boolean).join(" — ") + (advice ? ` (${problem.title})` : "");
  box.append(title, detail);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function clearProblem() { $$(".problem").forEach((box) => { box.hidden = true; }); }

async function api(method, url, body, problemBox) {
  clearProblem();
  let answer;
  try {
    answer = await fetch(url, {
      method, credentials: "same-origin",
      headers: { ...CONSOLE, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    showProblem({ title: "Crossview did not answer", detail: "Check your connection and try again." }, problemBox);
    throw error;
  }
  const text = await answer.text();
  const data = text ? JSON.parse(text) : {};
  if (!answer.ok) {
    if (answer.status === 401) { location.href = `/sign-in?next=${encodeURIComponent(location.pathname)}`; }
    showProblem(data, problemBox);
    const failure = new Error(data.title || answer.status);
    failure.status = answer.status;
    throw failure;
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

  // Reads asked later never lose to reads asked earlier: an answer that arrives after a newer one
  // was shown (a slow read from before the advisor's action, say) is dropped, not shown over it.
  let asked = 0, shown = 0;
  async function refresh(minPosition) {
    const ask = ++asked;
    const url = new URL(location.href);
    if (minPosition) { url.searchParams.set("min_position", minPosition); url.searchParams.set("wait_ms", "5000"); }
    const answer = await fetch(url, { credentials: "same-origin" });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    if (ask < shown) return;
    shown = ask;
    const known = new Set($$("#timeline [data-event]").map((li) => li.dataset.event));
    $$("[data-live]").forEach((part) => {
      const replacement = fresh.getElementById(part.id);
      if (replacement) { keepWhatTheAdvisorWasDoing(part, replacement); part.replaceWith(replacement); }
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
  // The first cannot go up nor the last down: kept true while the list is moved here, before the
  // saved order is read back (a keyboard user presses the next arrow at once).
  function markEnds() {
    const items = $$("#functions [data-function-id]");
    items.forEach((li, at) => {
      const up = li.querySelector("[data-action=move-up]"), down = li.querySelector("[data-action=move-down]");
      if (up) up.disabled = at === 0;
      if (down) down.disabled = at === items.length - 1;
    });
  }
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
      markEnds();
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
      markEnds();
      saveOrder(order).then(() => {
        const again = $(`#functions [data-function-id="${item.dataset.functionId}"] [data-action=${button.dataset.action}]`);
        if (again && !again.disabled) again.focus();
      });
    });
  }
  wireFunctions();
  serviceDesk(personId, refresh);

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

// A live part is replaced while the advisor may be in it: the sections they opened stay open, what
// they were typing stays typed, and the field they were in keeps the focus.
function keepWhatTheAdvisorWasDoing(part, replacement) {
  $$("details[id]", part).forEach((details) => {
    const again = replacement.querySelector(`#${CSS.escape(details.id)}`);
    if (again) again.open = details.open;
  });
  $$("input[id], textarea[id]", part).forEach((field) => {
    const again = replacement.querySelector(`#${CSS.escape(field.id)}`);
    if (again && field.value !== field.defaultValue) again.value = field.value;
  });
  const focused = document.activeElement;
  if (focused && focused.id && part.contains(focused)) {
    setTimeout(() => { const again = document.getElementById(focused.id); if (again) again.focus(); });
  }
}

// --- requests and complaints on the person page ------------------------------------------------
// Each action is one call of the JSON API; the list is then read again at the position the command
// answered with (min_position), so it never shows the state from before the advisor's own action.
function serviceDesk(personId, refresh) {
  const card = $("#requests-card");
  if (!card) return;
  const problemBox = $("#requests-problem");
  const base = `/v1/persons/${personId}/service-requests`;
  const last = (answer) => answer.positions[answer.positions.length - 1];

  const itemOf = (requestId) => $(`#requests [data-request="${requestId}"]`);

  // One action: the API call, then the list read again at the command's position. `saved` runs once
  // the API took it (emptying what was said), before the read (which keeps what is still typed).
  async function act(method, url, body, done, { saved, requestId } = {}) {
    try {
      return await actAndRead(method, url, body, done, saved, requestId);
    } finally {
      card.dataset.actions = String(Number(card.dataset.actions || 0) + 1); // settled (the tests wait on it)
    }
  }

  async function actAndRead(method, url, body, done, saved, requestId) {
    const stateSeen = requestId && itemOf(requestId) ? itemOf(requestId).dataset.state : null;
    let answer;
    try {
      answer = await api(method, url, body, problemBox);
    } catch (error) {
      // A rule refused a move the page offered: the request changed behind it (another advisor).
      // Until the live stream brings that change, say so on the request rather than show it as sure.
      const item = requestId && itemOf(requestId);
      if (error.status === 409 && item && item.dataset.state === stateSeen) movedMeanwhile(item);
      return null;
    }
    if (saved) saved();
    toast(done); say(done);
    // The read waits (wait_ms) for the position; a read model further behind answers "not caught up
    // yet" (data-caught-up on the list), and the page asks again rather than show the old state.
    for (let tries = 0; tries < 6; tries += 1) {
      await refresh(last(answer));
      const list = $("#requests");
      if (!list || list.dataset.caughtUp !== "false") break;
      say("Saved; the list is catching up");
    }
    return answer;
  }

  function movedMeanwhile(item) {
    item.classList.add("moved");
    $$("button, input, textarea", item).forEach((control) => { control.disabled = true; });
    const note = document.createElement("p");
    note.className = "moved-note small";
    note.textContent = "Changed meanwhile by someone else: shown as it was until the change arrives (a moment).";
    $(".request-head", item).after(note);
  }

  $("#request-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { kind: form.kind.value, subject: form.subject.value.trim(), channel: form.channel.value };
    if (form.description.value.trim()) body.description = form.description.value.trim();
    if (form.function_id.value) body.function_id = form.function_id.value;
    const kind = form.kind.selectedOptions[0].textContent.split(" · ")[0];
    const opened = await act("POST", base, body, `${kind} opened`, { saved: () => form.reset() });
    if (opened) $("#request-open-details").open = false;
  });

  card.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action=request-state]");
    if (!button) return;
    const item = button.closest("[data-request]");
    button.disabled = true;
    const state = button.dataset.state;
    const reason = item.querySelector(".move-reason");
    const body = { state, ...(reason && reason.value.trim() ? { reason: reason.value.trim() } : {}) };
    const saved = () => { if (reason) reason.value = ""; }; // said with this move
    const requestId = item.dataset.request;
    await act("POST", `${base}/${requestId}/state`, body, `Now ${state.replace(/_/g, " ")}`, { saved, requestId });
    if (!item.classList.contains("moved")) button.disabled = false; // the list was not read again
    // The clicked button was replaced with the list: the keyboard goes on from the same request.
    const again = itemOf(requestId);
    const next = again && (again.querySelector("[data-action=request-state]:not(:disabled)") || again.querySelector("summary"));
    if (next && !card.contains(document.activeElement)) next.focus();
  });

  card.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-action^=request-]");
    if (!form || form.id === "request-form") return;
    event.preventDefault();
    const requestId = form.closest("[data-request]").dataset.request;
    const url = `${base}/${requestId}`;
    if (form.dataset.action === "request-comment") {
      const comment = { text: form.text.value.trim() };
      await act("POST", `${url}/comments`, comment, "Comment added", { saved: () => form.reset(), requestId });
    } else if (form.dataset.action === "request-assign") {
      const assignee = form.assignee.value.trim();
      await act("PUT", `${url}/assignee`, { assignee }, `Assigned to ${assignee}`, { requestId });
    }
  });
}

window.crossviewApi = api; // for the browser tests, and a curious advisor's console

document.addEventListener("DOMContentLoaded", () => { signIn(); searchAsYouType(); personPage(); });
