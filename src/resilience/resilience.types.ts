import type { Json } from '../objects/field-types.ts';

/** What the chaos runner stores for one experiment (POST /api/v1/resilience/experiments). */
export interface ExperimentInput {
  runId: string;
  experiment: string;
  title: string;
  hypothesis: string;
  passed: boolean;
  startedAt: string;
  finishedAt: string;
  metrics: Record<string, Json>;
  details: Record<string, Json>;
  environment: Record<string, Json>;
}

/** One stored chaos experiment result, as the API returns it (shared with the web app). */
export interface ExperimentResult extends ExperimentInput {
  id: string;
  createdBy: string | null;
  createdAt: string;
}
