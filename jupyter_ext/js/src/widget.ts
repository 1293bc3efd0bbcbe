// The anywidget front end: DagWidget's traits in, selection and refresh requests out.
// Traits: graph (the payload), selected (a node id or ""), error (a message or "").

import { renderDag } from "./render";
import type { GraphPayload } from "./types";

interface Model {
  get(name: "graph"): GraphPayload;
  get(name: "selected" | "error"): string;
  set(name: "selected", value: string): void;
  save_changes(): void;
  send(content: unknown): void;
  on(event: string, callback: (...args: unknown[]) => void): void;
  off(event: string, callback: (...args: unknown[]) => void): void;
}

let requests = 0;

function render({ model, el }: { model: Model; el: HTMLElement }): () => void {
  const view = renderDag(el, model.get("graph"), {
    selected: model.get("selected") || null,
    onSelect: (id) => {
      model.set("selected", id ?? "");
      model.save_changes();
    },
    // Python answers by replacing the graph trait (or setting error); see DagWidget.refresh.
    onRefresh: () => model.send({ type: "refresh", id: ++requests }),
  });
  view.showError(model.get("error") || null);
  const onGraph = () => void view.update(model.get("graph"));
  const onSelected = () => view.select(model.get("selected") || null, false);
  const onError = () => view.showError(model.get("error") || null);
  model.on("change:graph", onGraph);
  model.on("change:selected", onSelected);
  model.on("change:error", onError);
  return () => {
    model.off("change:graph", onGraph);
    model.off("change:selected", onSelected);
    model.off("change:error", onError);
    view.destroy();
  };
}

export default { render };
