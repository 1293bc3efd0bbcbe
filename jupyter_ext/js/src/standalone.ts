// The viewer for any web page or webview (VS Code): a classic script defining window.roarDag.
//   <link rel="stylesheet" href="dag_view.css"><script src="dag_view.js"></script>
//   const view = window.roarDag.render(container, payload, { onSelect(id, node) { … } });

import { renderDag } from "./render";

const api = { render: renderDag, version: 1 };

declare global {
  interface Window {
    roarDag: typeof api;
  }
}

window.roarDag = api;
