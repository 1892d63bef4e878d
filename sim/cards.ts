// Agent cards: v0.3 at /v1/a2a/<id>/.well-known/agent.json, 1.0 at /v2/a2a/<id>/.well-known/agent-card.json.
import type { AgentConfig, ApiVersion } from './types';

/** `base`: the origin the client used (its Host header), so the card's URLs are reachable from it. */
export function card(version: ApiVersion, agentId: string, agent: AgentConfig | undefined, base: string) {
  const name = agent?.name ?? `sim-agent-${agentId.slice(0, 8)}`;
  const description = agent?.description ?? 'Archestra simulator agent: answers with a summary of the prompt';
  const skills = [{ id: name.toLowerCase().replace(/[^a-z0-9]+/g, '_'), name, description, tags: ['summary'], inputModes: ['text'], outputModes: ['text'] }];
  if (version === '0.3') {
    return {
      name, description, url: `${base}/v1/a2a/${agentId}`, version: '1',
      capabilities: { streaming: false, pushNotifications: false, stateTransitionHistory: false },
      defaultInputModes: ['text'], defaultOutputModes: ['text'], skills,
    };
  }
  return {
    name, description, version: '1',
    supportedInterfaces: [{ url: `${base}/v2/a2a/${agentId}`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
    capabilities: { streaming: false, pushNotifications: false, extendedAgentCard: false },
    securitySchemes: { platformToken: { type: 'http', scheme: 'bearer' } },
    securityRequirements: [{ platformToken: [] }],
    defaultInputModes: ['text/plain'], defaultOutputModes: ['text/plain'], skills,
  };
}
