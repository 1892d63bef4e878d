// States moto cannot produce (a function that failed to update, a mapping whose pollers report a problem),
// through a stand-in for the AWS clients: the rest of doctor --stack runs against moto in doctor.test.ts.
import type { AwsClients } from '../../scripts/lib/deployment';
import { checkDeployment } from '../../scripts/lib/deployment';

function clients(answers: Record<string, unknown>): AwsClients {
  const send = async (command: object) => {
    const name = command.constructor.name;
    if (!(name in answers)) throw new Error(`unexpected ${name}`);
    return answers[name];
  };
  return { cfn: { send }, lambda: { send }, sqs: { send }, cloudwatch: { send } } as unknown as AwsClients;
}

const stack = {
  DescribeStackResourcesCommand: { StackResources: [{ ResourceType: 'AWS::Lambda::Function', PhysicalResourceId: 'bridge-fn' }] },
  GetMetricStatisticsCommand: { Datapoints: [] },
};

it('fails a function whose last update failed, and a mapping that reports a problem', async () => {
  const d = await checkDeployment(
    's',
    clients({
      ...stack,
      GetFunctionConfigurationCommand: { State: 'Active', LastUpdateStatus: 'Failed', Runtime: 'nodejs22.x', Timeout: 300, Environment: { Variables: { ROUTES_CONFIG_FILE: 'routes.json' } } },
      ListEventSourceMappingsCommand: {
        EventSourceMappings: [{ UUID: 'm-1', Topics: ['orders'], State: 'Enabled', LastProcessingResult: 'PROBLEM: Connection error. Please check your event source connection configuration.' }],
      },
    }),
  );
  expect(d.checks.find((c) => c.name === 'function bridge-fn')?.status).toBe('fail');
  const mapping = d.checks.find((c) => c.name.startsWith('mapping m-1'));
  expect(mapping).toMatchObject({ status: 'fail', detail: expect.stringContaining('PROBLEM: Connection error') });
  expect(d.checks.find((c) => c.name.startsWith('offset lag'))?.status).toBe('skip');
});

it('says so when no function of the stack is the bridge', async () => {
  const d = await checkDeployment('s', clients({ ...stack, GetFunctionConfigurationCommand: { Environment: { Variables: {} } } }));
  expect(d.env).toBeUndefined();
  expect(d.checks.at(-1)).toMatchObject({ name: 'bridge function', status: 'fail' });
});
