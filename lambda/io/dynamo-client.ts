// A lean DynamoDB client: one SigV4-signed JSON POST per operation (lambda/io/aws-json.ts), instead of
// @aws-sdk/client-dynamodb. The SDK client cost ~1,600 us of CPU per record for the store's two writes and 55-65 ms
// of parsing at cold start; DynamoDB's JSON protocol needs none of its machinery. The input and output are the SDK's
// shapes (AttributeValue maps), so call sites change mechanically: `send('PutItem', input, signal)` for
// `client.send(new PutItemCommand(input))`.
import { AwsError, createAwsJsonClient, signAwsJsonPost, type AwsJsonOptions, type AwsJsonService, type SignInput } from './aws-json';
export type { AwsCredentials } from './aws-json';

export type DynamoOperation =
  | 'PutItem'
  | 'GetItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'Query'
  | 'BatchGetItem'
  | 'BatchWriteItem'
  | 'TransactWriteItems'
  | 'TransactGetItems'
  | 'CreateTable'
  | 'DescribeTable';

/** Each attempt's limit defaults to 3 s (the SDK's requestTimeout here was 3 s). */
export type DynamoClientOptions = AwsJsonOptions;

/** A DynamoDB error reply: `name` is DynamoDB's exception name; the reply's other fields (Item, CancellationReasons) are kept. */
export class DynamoError extends AwsError {
  readonly Item?: Record<string, unknown>;
  readonly CancellationReasons?: unknown[];
  constructor(name: string, message: string, status: number, body: Record<string, unknown>) {
    super(name, message, status, status >= 500 || RETRYABLE.has(name), 'dynamodb_error');
    if (body.Item) this.Item = body.Item as Record<string, unknown>;
    if (body.CancellationReasons) this.CancellationReasons = body.CancellationReasons as unknown[];
  }
}

const RETRYABLE = new Set(['ThrottlingException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'LimitExceededException', 'TransactionInProgressException']);

const DYNAMODB: AwsJsonService = {
  label: 'DynamoDB',
  signingName: 'dynamodb',
  endpointEnv: 'AWS_ENDPOINT_URL_DYNAMODB',
  targetPrefix: 'DynamoDB_20120810',
  jsonVersion: '1.0',
  error: (name, message, status, body) => new DynamoError(name, message, status, body),
  // The SDK's base for DynamoDB.
  backoffBaseMs: 25,
  attemptTimeoutMs: 3000,
};

export interface DynamoClient {
  // biome-ignore lint/suspicious/noExplicitAny: DynamoDB JSON is untyped; callers name the shape they read
  send<T = Record<string, any>>(operation: DynamoOperation, input: object, signal?: AbortSignal): Promise<T>;
}

/** SigV4 headers for one DynamoDB POST. */
export const signDynamoPost = (o: SignInput): Record<string, string> => signAwsJsonPost({ ...o, signingName: 'dynamodb', jsonVersion: '1.0' });

export const createDynamoClient = (o: DynamoClientOptions = {}): DynamoClient => createAwsJsonClient(DYNAMODB, o);
