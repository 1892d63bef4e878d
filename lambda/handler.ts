// Lambda entry point for the MSK / self-managed Kafka event source mapping.
// Settings and routes are validated at cold start: a bad config fails the init with a clear message
// instead of failing every batch.
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { composeBridge } from './compose';
import { loadSettings } from './config/settings';
import { logger, metrics } from './observe';
import { processBatch, type PipelineDeps } from './pipeline';
import type { KafkaBatchResponse } from './report';

export function createHandler(deps: PipelineDeps) {
  return async (event: unknown, context: Context): Promise<KafkaBatchResponse> => {
    const result = await processBatch(event, { requestId: context.awsRequestId ?? null, remainingMs: context.getRemainingTimeInMillis() }, deps);
    return result.response;
  };
}

function init(): PipelineDeps {
  try {
    const settings = loadSettings();
    if (!settings.dlqUrl) logger.warn('DLQ_URL is not set: poison records and permanent failures will be reported for redelivery, not dead-lettered');
    return composeBridge(settings);
  } catch (err) {
    logger.error('invalid configuration', { error: (err as Error).message });
    throw err;
  }
}

export const handler = middy(createHandler(init()))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
