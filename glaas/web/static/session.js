// The session page's DAG: the notebook widget's viewer (window.roarDag, /viewer/dag_view.js)
// drawing the payload the server put in #graph-data. Click selects a node and offers its page;
// double-click opens it.
"use strict";
(function () {
  const host = document.getElementById("dag");
  const data = document.getElementById("graph-data");
  const open = document.getElementById("dag-open");
  if (!host || !data || !window.roarDag) return;
  const payload = JSON.parse(data.textContent);
  const byId = new Map(payload.nodes.map((n) => [n.id, n]));

  function pageOf(node) {
    if (!node) return null;
    if (node.type === "job") return "/jobs/" + encodeURIComponent(node.job_hash);
    if (node.type === "artifact" && node.hash) return "/artifacts/" + encodeURIComponent(node.hash);
    return null;
  }

  function offer(id) {
    const node = byId.get(id);
    const href = pageOf(node);
    if (!href) { open.hidden = true; return; }
    open.href = href;
    open.textContent = "Open " + (node.type === "job" ? "job " : "artifact ") + node.label;
    open.hidden = false;
  }

  window.glaasView = window.roarDag.render(host, payload, { onSelect: (id) => offer(id) });
  window.glaasView.ready.then(
    (stats) => { host.dataset.ready = "true"; window.glaasStats = stats; },
    (err) => { host.dataset.ready = "failed"; window.glaasFailure = String(err); });
  host.addEventListener("dblclick", (ev) => {
    const g = ev.target.closest && ev.target.closest("g.node[data-id]");
    const href = g && pageOf(byId.get(g.dataset.id));
    if (href) window.location.href = href;
  });
})();
