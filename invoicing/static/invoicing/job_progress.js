/* A background job's progress page (an import or export, a bulk selection): polls the job's status URL every second
   until the job is done, then shows its state, count, message, the download links it has and, for an import, the
   rows it refused. The page carries the URL in data-job-status-url (data-job-done="true" when there is nothing to
   wait for) and each possible link, labelled by the server, as <a data-job-link="<status field>" hidden>: a link is
   shown once the job's status names a URL for it. */
(function () {
  "use strict";
  var root = document.querySelector("[data-job-status-url]");
  if (!root) { return; }
  var url = root.dataset.jobStatusUrl;

  function text(v) { return v === null || v === undefined ? "" : String(v); }

  function issues(rows) {
    var table = document.getElementById("fapiao-job-issues");
    if (!table || !rows || !rows.length) { return; }
    var body = table.tBodies[0];
    body.textContent = "";
    rows.forEach(function (i) {
      var tr = document.createElement("tr");
      [i.sheet, i.row, i.column, i.value, i.code, i.message].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = text(v); tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.hidden = false;
  }

  function render(job) {
    document.getElementById("job-status").textContent = job.status_label;
    var bar = document.getElementById("job-bar");
    bar.style.width = job.percent + "%";
    bar.parentNode.setAttribute("aria-valuenow", job.percent);
    document.getElementById("job-count").textContent = job.processed + "/" + job.total;
    document.getElementById("job-message").textContent = text(job.message);
    root.querySelectorAll("[data-job-link]").forEach(function (a) {
      var href = job[a.dataset.jobLink];
      if (href) { a.href = href; a.hidden = false; } else { a.removeAttribute("href"); a.hidden = true; }
    });
    issues(job.issues);
  }

  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (job) {
      render(job);
      if (!job.done) { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }

  if (root.dataset.jobDone !== "true") { poll(); }
})();
