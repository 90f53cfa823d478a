// Live progress of a queued or running fine-tuning job, on its page.
// Polls the job's progress.json every 2 s and writes the bar and the texts the server
// rendered (so they stay translated); reloads the page when the status changes (a finished
// job shows its outcome and other buttons) or an epoch is added (the curves are drawn
// server-side). Plain script, no library: the page works without it, only not live.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-progress-url");
  var status = box.getAttribute("data-status");
  var epochsRecorded = Number(box.getAttribute("data-epochs-recorded"));
  var INTERVAL_MS = 2000;
  var RETRY_MS = 10000;

  function field(name) {
    return box.querySelector('[data-field="' + name + '"]');
  }

  function setText(name, text) {
    var element = field(name);
    if (element) {
      element.textContent = text;
    }
  }

  function show(data) {
    var bar = field("bar");
    if (bar) {
      bar.value = data.percent;
      bar.textContent = data.percent + "%";
    }
    setText("percent", data.percent + "%");
    setText("status_display", data.status_display);
    setText("position_display", data.position_display);
    setText("eta_display", data.eta_display);
    setText("loss_display", data.loss_display || "—");
  }

  function poll() {
    if (document.hidden) {
      window.setTimeout(poll, INTERVAL_MS);
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("progress: HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data.status !== status || data.epochs_recorded !== epochsRecorded) {
          window.location.reload();
          return;
        }
        show(data);
        window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(function () {
        // A dropped connection or a restart: try again, less often.
        window.setTimeout(poll, RETRY_MS);
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
