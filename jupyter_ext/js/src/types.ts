// The graph payload (docs/json-contract.md, "graph-json"), as roar.query.graph builds it.

export type JobState = "active" | "stale" | "superseded";
export type ArtifactState = "active" | "stale" | "superseded" | "orphaned";

export interface JobNode {
  id: string;
  type: "job";
  label: string;
  state: JobState;
  failed: boolean;
  job_uid: string;
  kind: string;
  step_number: number;
  step_ref: string;
  step_name: string | null;
  command: string;
  exit_code: number;
  interrupted: boolean;
  started_at: string;
  duration_seconds: number;
  git_commit: string | null;
  git_dirty: boolean;
  runs: number;
  /** The job's `roar label` document ({} when none; absent from payloads of roar before 16.4). */
  labels?: Labels;
  notebook_path?: string | null;
  cell_id?: string | null;
  execution_count?: number | null;
  source?: string | null;
}

export interface ArtifactNode {
  id: string;
  type: "artifact";
  label: string;
  state: ArtifactState;
  missing: boolean;
  path: string;
  /** null: a file a job deleted whose content roar never recorded */
  hash: string | null;
  short_hash: string | null;
  size: number | null;
  composite: boolean;
  superseded_by: string | null;
  /** What the path holds now: "modified on disk" = other bytes than these (a later run's
   * version, or an edit made outside roar); absent from payloads of roar before 14.7. */
  disk_state?: DiskState | null;
  /** The content's `roar label` document ({} when none; absent before roar 16.4). */
  labels?: Labels;
}

/** A label document: dotted keys nest (model.name=x → {model: {name: "x"}}); values keep their
 * JSON type. */
export type Labels = { [key: string]: unknown };

export type DiskState = "current" | "modified on disk" | "missing";
export const MODIFIED: DiskState = "modified on disk";

export type GraphNode = JobNode | ArtifactNode;

export interface GraphEdge {
  source: string;
  target: string;
  /** deleted: a file (artifact) → the job that removed it */
  kind: "input" | "output" | "variable" | "deleted";
  names?: string[];
  previous_run?: boolean;
}

export interface GraphPayload {
  version: number;
  scope: { kind: string; [key: string]: unknown };
  counts: { jobs: number; artifacts: number; stale: number; failed: number; missing: number; modified?: number };
  nodes: GraphNode[];
  edges: GraphEdge[];
}
