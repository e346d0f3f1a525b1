// Live updates, filter persistence, the Generate Shipment dialog and copy buttons.
(function () {
  "use strict";
  var cfg = window.FULFILMENT || {};

  function json(url, opts) {
    return fetch(url, Object.assign({ credentials: "same-origin",
      headers: { "Accept": "application/json" } }, opts || {})).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    });
  }

  // Filters survive a reload: remember the list's query string for this browser tab.
  if (cfg.page === "list") {
    var key = "fulfilment.orders.query";
    if (!window.location.search && sessionStorage.getItem(key) && !cfg.noRestore) {
      window.location.replace(window.location.pathname + sessionStorage.getItem(key));
      return;
    }
    if (window.location.search) { sessionStorage.setItem(key, window.location.search); }
    var clear = document.getElementById("clear-filters");
    if (clear) { clear.addEventListener("click", function () { sessionStorage.removeItem(key); }); }
  }

  // Live updates: poll the cheap "changed since" endpoint; patch badges or reload the detail.
  function poll() {
    if (!cfg.changesUrl) { return; }
    var url = cfg.changesUrl + "?since=" + encodeURIComponent(cfg.since) + "&after_id=" + (cfg.afterId || 0);
    json(url).then(function (res) {
      if (!res.ok) { return; }
      cfg.since = res.body.since; cfg.afterId = res.body.after_id;
      var fresh = 0;
      res.body.changes.forEach(function (c) {
        if (cfg.page === "detail" && c.order_id === cfg.orderId && c.version !== cfg.version
            && !cfg.followingNow) {  // follow() shows the outcome, then reloads itself
          window.location.reload();
        }
        var badge = document.querySelector('[data-status-for="' + CSS.escape(c.order_id) + '"]');
        if (badge) {
          badge.textContent = c.status.charAt(0).toUpperCase() + c.status.slice(1);
          badge.className = "badge status-badge " + (cfg.badges[c.status] || "badge-light");
          var row = badge.closest("tr"); if (row) { row.classList.add("live-flash"); }
        } else if (cfg.page === "list") { fresh += 1; }
      });
      var note = document.getElementById("new-orders-note");
      if (note && fresh) {
        cfg.fresh = (cfg.fresh || 0) + fresh;
        note.textContent = cfg.fresh + " order(s) changed or arrived — refresh to see them";
        note.classList.remove("d-none");
      }
    }).catch(function () { /* offline for a moment: the next poll tries again */ });
  }
  if (cfg.changesUrl) { setInterval(poll, 1000); }

  // Detail page: follow the shipment job until it ends, without a manual reload.
  function follow(message) {
    cfg.followingNow = true;
    var box = document.getElementById("shipment-result");
    var started = Date.now();
    box.className = "alert alert-info"; box.textContent = message || "Generating shipment…";
    var timer = setInterval(function () {
      json(cfg.stateUrl).then(function (res) {
        var sh = res.body.shipment;
        if (!sh) { return; }
        if (res.body.status === "shipped" && sh.awb) {
          clearInterval(timer);
          box.className = "alert alert-success";
          box.textContent = "Shipment created successfully. AWB: " + sh.awb;
          setTimeout(function () { window.location.reload(); }, 1500);
        } else if (sh.state === "failed") {
          clearInterval(timer);
          box.className = "alert alert-danger"; box.textContent = sh.failure;
          setTimeout(function () { window.location.reload(); }, 2500);
        } else if (Date.now() - started > 120000) {
          clearInterval(timer); box.textContent = "Still working… refresh later.";
        }
      });
    }, 700);
  }

  var openBtn = document.getElementById("generate-shipment");
  if (openBtn) {
    openBtn.addEventListener("click", function () {
      var panel = document.getElementById("courier-panel");
      var list = document.getElementById("courier-options");
      panel.classList.remove("d-none");
      list.innerHTML = '<div class="text-muted"><span class="spinner-border spinner-border-sm"></span> Loading courier options…</div>';
      json(cfg.couriersUrl).then(function (res) {
        if (!res.ok) {
          list.innerHTML = ""; var err = document.createElement("div");
          err.className = "alert alert-danger"; err.textContent = res.body.error || "Could not load couriers.";
          list.appendChild(err);
          // Ops may still ask for the shipment with the automatic choice: the job then fails
          // visibly, with the reason, and the failed attempt is recorded for the retry.
          document.getElementById("confirm-shipment").disabled = false;
          return;
        }
        list.innerHTML = "";
        document.getElementById("courier-rule").textContent = res.body.reason;
        res.body.options.forEach(function (o) {
          var b = document.createElement("button");
          b.type = "button"; b.className = "list-group-item list-group-item-action courier-option btn-tap";
          b.dataset.courierId = o.id;
          var days = o.estimated_days === null ? "?" : o.estimated_days;
          b.textContent = o.name + " — ₹" + o.rate + " · " + days + " day(s) · ★ " + (o.rating === null ? "–" : o.rating);
          if (o.id === res.body.automatic_choice) {
            b.classList.add("active");
            var tag = document.createElement("span"); tag.className = "badge badge-primary ml-2";
            tag.textContent = "auto: " + res.body.rule; b.appendChild(tag);
          }
          if (o.recommended) {
            var r = document.createElement("span"); r.className = "badge badge-light ml-1";
            r.textContent = "recommended"; b.appendChild(r);
          }
          b.addEventListener("click", function () {
            list.querySelectorAll(".courier-option").forEach(function (x) { x.classList.remove("active"); });
            b.classList.add("active");
          });
          list.appendChild(b);
        });
        document.getElementById("confirm-shipment").disabled = false;
      });
    });
    document.getElementById("confirm-shipment").addEventListener("click", function () {
      var chosen = document.querySelector(".courier-option.active");
      var body = new URLSearchParams();
      body.append("csrf_token", cfg.csrf);
      if (chosen) { body.append("courier_id", chosen.dataset.courierId); }
      this.disabled = true;
      json(cfg.shipUrl, { method: "POST", body: body }).then(function (res) {
        if (!res.ok) {
          var box = document.getElementById("shipment-result");
          box.className = "alert alert-danger"; box.textContent = res.body.error || "Could not start the shipment.";
          return;
        }
        document.getElementById("courier-panel").classList.add("d-none");
        follow();
      });
    });
  }
  if (cfg.page === "detail" && cfg.following) { follow("Shipment in progress…"); }

  // Copy buttons (tracking links, AWBs).
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var text = btn.getAttribute("data-copy");
      (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject()).then(function () {
        btn.textContent = "Copied";
      }).catch(function () { window.prompt("Copy:", text); });
    });
  });

  // Batch page: progress updates itself.
  if (cfg.page === "batch" && !cfg.done) {
    var t = setInterval(function () {
      json(cfg.progressUrl).then(function (res) {
        var p = res.body;
        document.getElementById("batch-progress-text").textContent =
          p.succeeded + " of " + p.total + " shipments created" + (p.failed ? " · " + p.failed + " failed" : "");
        var bar = document.getElementById("batch-bar");
        bar.style.width = Math.round(100 * (p.succeeded + p.failed) / Math.max(p.total, 1)) + "%";
        if (p.done) { clearInterval(t); window.location.reload(); }
      });
    }, 1000);
  }
})();
