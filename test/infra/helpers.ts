// Shared by the infra tests: synthesize the real app (cdk.json's feature flags, cdk-nag included)
// with a given context, and read the dashboard body back as JSON.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/app';
import type { KafkaA2ABridgeStack } from '../../infra/stack';

export const ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(__dirname, 'fixtures');
export const ROUTES = path.join(FIXTURES, 'routes.json');
export const CLUSTER_ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-1';
export const EU_CLUSTER_ARN = CLUSTER_ARN.replace('us-east-1', 'eu-west-1');

/** The context of cdk.json (feature flags), as `cdk synth` would pass it. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context;
}

export interface Synthesized {
  app: App;
  stack: KafkaA2ABridgeStack;
  template: Template;
}

export function synth(context: Record<string, unknown>, outdir?: string): Synthesized {
  const app = new App({ context: { ...cdkJsonContext(), ...context }, outdir });
  const stack = buildApp(app);
  // Template.fromStack synthesizes the app: cdk-nag and CloudFormation validation run here too.
  return { app, stack, template: Template.fromStack(stack) };
}

/** Builds only (no synth): for the failure cases, which throw before any bundling. */
export function build(context: Record<string, unknown>): KafkaA2ABridgeStack {
  return buildApp(new App({ context: { ...cdkJsonContext(), ...context } }));
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** The dashboard body with each CloudFormation token replaced by <<LogicalId>> or <<LogicalId.Attr>>. */
export function dashboardBody(template: Template): { widgets: Array<{ type: string; properties: Record<string, Json> }> } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  if (dashboards.length !== 1) throw new Error(`expected one dashboard, found ${dashboards.length}`);
  const body = dashboards[0].Properties.DashboardBody as string | { 'Fn::Join': [string, Json[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1]
          .map((part) => {
            if (typeof part === 'string') return part;
            const o = part as Record<string, Json>;
            if ('Ref' in o) return `<<${o.Ref}>>`;
            if ('Fn::GetAtt' in o) return `<<${(o['Fn::GetAtt'] as string[]).join('.')}>>`;
            return '<<token>>';
          })
          .join('');
  return JSON.parse(text);
}

/** The logical ID of the only resource of a type whose ID starts with a prefix. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}
