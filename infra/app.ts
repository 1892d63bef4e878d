// CDK entry (cdk.json "app"). `npx cdk deploy -c mskClusterArn=... -c topics=...`: every knob is
// a context value (infra/context.ts; docs/DEPLOYMENT.md). cdk-nag's AwsSolutions checks run at every
// synth; an unacknowledged finding fails it.
import { Annotations, App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BridgeError } from '../lambda/errors';
import { readDeployment, unknownContextKeys } from './context';
import { KafkaA2ABridgeStack } from './stack';

export function buildApp(app: App = new App()): KafkaA2ABridgeStack {
  const config = readDeployment((key) => app.node.tryGetContext(key));
  const stack = new KafkaA2ABridgeStack(app, config.stackName, { config });
  for (const { key, knob } of unknownContextKeys(app.node.getAllContext())) {
    Annotations.of(stack).addWarningV2('kafka-a2a-bridge:unknownContext', `Context key "${key}" is not a knob and is ignored: did you mean "${knob}"?`);
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

if (require.main === module) {
  const app = new App();
  try {
    buildApp(app);
  } catch (e) {
    // Configuration mistakes get their message alone, not a stack trace.
    if (e instanceof BridgeError) {
      console.error(`\n${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  app.synth();
}
