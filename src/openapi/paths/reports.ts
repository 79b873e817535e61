import { listOf, ref, type PathTable } from '../shared.ts';

/** src/reports/pipeline.ts (routed in src/import-export/import-export.routes.ts). */
export const reportPaths: PathTable = {
  '/api/v1/reports/pipeline': {
    get: {
      summary: 'Opportunity pipeline: count and amount per stage and currency',
      operationId: 'pipelineReport',
      description: 'Takes no query parameters. Counts only the opportunities the caller may read.',
      responses: { '200': { description: 'One row per stage and currency', schema: listOf(ref('PipelineRow')) } },
      errors: ['validation_failed', 'forbidden', 'unavailable'],
    },
  },
};
